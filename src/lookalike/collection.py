"""A collection: a folder of images, its catalogue and its vectors. The core API.

>>> col = Collection.open("photos")
>>> report = col.index()                      # incremental, resumable
>>> for m in col.search("query.jpg", k=8):   # exact search, cosine by default
...     print(m.rank, m.path, m.score)
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from lookalike.config import DB_DIRNAME, DEFAULT_ENCODER, DEFAULT_K, DEFAULT_METRIC, METRICS
from lookalike.embedding import embed_files
from lookalike.encoders import Encoder, create_encoder
from lookalike.encoders.joint import JointEncoder
from lookalike.errors import (
    CollectionBusyError,
    CollectionNotFoundError,
    EncoderMismatchError,
    NoImagesError,
    NotIndexedError,
)
from lookalike.imageio import FileEntry, read_image, walk_files
from lookalike.index import VectorIndex
from lookalike.results import (
    CollectionInfo,
    IndexReport,
    KnnGraph,
    Match,
    Progress,
    SearchResult,
    Skipped,
    VectorSetInfo,
    VectorTable,
)
from lookalike.searcher import SetIndex, exact_top
from lookalike.store import Catalog, FileRecord, FileRow, VectorSetRow, VectorStore

ProgressCallback = Callable[[Progress], None]
F = TypeVar("F", bound=Callable[..., Any])

#: Vectors are written to disk at least this often (seconds) and per this many images,
#: which bounds the work a killed run loses.
FLUSH_SECONDS = 10.0
FLUSH_IMAGES = 4096


@dataclass
class _Loaded:
    """A vector set's index loaded for search, with the state it was loaded at, and the
    set's paths by file id (so a search needs no catalogue query)."""

    stamp: tuple[float, int, str]
    index: VectorIndex
    ids: NDArray[np.int64]  # sorted file ids
    paths: NDArray[np.object_]  # absolute path strings, aligned with ``ids``

    def paths_of(self, ids: list[int]) -> list[str | None]:
        """Absolute paths of file ids (None for an id this snapshot does not know)."""
        if not ids:
            return []
        n, known = len(self.ids), self.ids
        pos = known.searchsorted(ids).tolist()
        return [
            self.paths[p] if p < n and known[p] == f else None
            for p, f in zip(pos, ids, strict=True)
        ]


def _serialised(method: F) -> F:
    """Run a public method under the collection's lock: one call at a time, so a collection
    can be shared between threads (the web UI's browser sessions)."""

    @functools.wraps(method)
    def wrapper(self: Collection, *args: Any, **kwargs: Any) -> Any:
        with self._mutex:
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class Collection:
    """A folder of images plus its embedded database (``DIR/.lookalike`` by default).

    Safe to share between threads: public methods run one at a time.
    """

    def __init__(self, root: Path, db: Path) -> None:
        self._mutex = threading.RLock()
        self.root = root
        self.db = db
        self._catalog: Catalog | None = None
        self._encoders: dict[str, Encoder] = {}
        self._loaded: dict[tuple[int, str], _Loaded] = {}

    # -- opening ------------------------------------------------------------------------
    @classmethod
    def open(
        cls, root: str | os.PathLike[str], *, db: str | os.PathLike[str] | None = None
    ) -> Collection:
        """Open the collection rooted at ``root``; nothing is written until ``index``."""
        r = Path(root).expanduser()
        if not r.exists():
            raise CollectionNotFoundError(f"folder not found: {r}")
        if not r.is_dir():
            raise CollectionNotFoundError(f"not a folder: {r}")
        r = r.resolve()
        return cls(r, Path(db).expanduser().resolve() if db else r / DB_DIRNAME)

    @property
    def is_indexed(self) -> bool:
        """Whether a catalogue exists for this collection."""
        return (self.db / "catalog.db").exists()

    def _open_catalog(self, create: bool) -> Catalog:
        if self._catalog is None:
            if not create and not self.is_indexed:
                raise NotIndexedError(
                    f"{self.root} is not indexed yet; run: lookalike index {self.root}"
                )
            self._catalog = Catalog(self.db / "catalog.db")
        return self._catalog

    @property
    def _vectors(self) -> VectorStore:
        return VectorStore(self.db / "vectors")

    @_serialised
    def close(self) -> None:
        """Release the catalogue, encoders and loaded indexes."""
        if self._catalog is not None:
            self._catalog.close()
            self._catalog = None
        for enc in self._encoders.values():
            enc.close()
        self._encoders.clear()
        self._loaded.clear()

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- indexing -----------------------------------------------------------------------
    @_serialised
    def index(
        self,
        encoder: Encoder | None = None,
        *,
        model: str = DEFAULT_ENCODER,
        pooling: str | None = None,
        batch_size: int = 32,
        workers: int | None = None,
        progress: ProgressCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
        flush_images: int = FLUSH_IMAGES,
        flush_seconds: float = FLUSH_SECONDS,
        index: str | None = None,
        index_options: dict[str, Any] | None = None,
        also: Sequence[Encoder] = (),
    ) -> IndexReport:
        """Embed new and changed images, drop deleted ones, and report what happened.

        ``also`` names more encoders filled in the same pass: each image is decoded once,
        and poolings of one network share its forward pass. The report is the first
        encoder's; it stays the collection's default set.

        Runs again cheaply: only what changed on disk is decoded. A run killed at any
        moment resumes from the last vectors written: vectors are saved every
        ``flush_images`` images or ``flush_seconds`` seconds, whichever comes first.

        ``index`` picks the search index kind (``auto``, ``exact``, ``hnsw``, ``ivf``,
        ``ivfpq``, ``lsh``, ``milvus``) with ``index_options``; the choice is remembered
        for the vector set, and the index is brought up to date and saved here.
        """
        t0 = time.perf_counter()
        if encoder is None:
            opts: dict[str, Any] = {"pooling": pooling} if pooling else {}
            encoder = create_encoder(model, **opts)
        with self._lock():
            catalog = self._open_catalog(create=True)
            entries = list(walk_files(self.root, exclude=(self.db,)))
            if progress:
                progress(Progress("scan", len(entries), len(entries)))
            known = catalog.files()
            members = [encoder, *(e for e in also if e.key != encoder.key)]
            vsets = [
                catalog.ensure_set(
                    key=e.key,
                    encoder=e.name,
                    version=e.version,
                    pooling=e.pooling,
                    image_size=e.preprocess.size,
                    dim=e.dim,
                    options=e.options,
                )
                for e in members
            ]
            vset = vsets[0]
            # A file is embedded again when any of the sets lacks it.
            embedded = set.intersection(*(catalog.embedded_file_ids(v.id) for v in vsets))
            todo: list[FileEntry] = []
            unreadable: list[FileRecord] = []
            changed: list[int] = []
            unchanged = 0
            on_disk = set()
            for e in entries:
                on_disk.add(e.relpath)
                row = known.get(e.relpath)
                if e.error:
                    unreadable.append(FileRecord(e.relpath, e.size, e.mtime_ns, error=e.error))
                    continue
                if row is not None and (row.size, row.mtime_ns) != (e.size, e.mtime_ns):
                    changed.append(row.id)
                    todo.append(e)
                elif row is None or (row.status == "ok" and row.id not in embedded):
                    todo.append(e)
                elif row.status == "ok":
                    unchanged += 1
            deleted = [row.id for path, row in known.items() if path not in on_disk]
            catalog.forget(deleted, changed)
            if unreadable:
                catalog.record(unreadable)
            for v in vsets:
                self._vectors.remove_orphans(v.id, catalog.shards(v.id))
            if not entries:
                raise NoImagesError(f"no files found in {self.root}")

            t_embed = time.perf_counter()
            indexed, newly_skipped, interrupted = self._embed(
                catalog,
                vsets,
                JointEncoder(members) if len(members) > 1 else encoder,
                todo,
                batch_size,
                workers,
                progress,
                should_stop,
                (flush_images, flush_seconds),
            )
            embed_seconds = time.perf_counter() - t_embed
            newly_skipped += len(unreadable)
            if progress:
                progress(Progress("compact", 0, 1))
            for v in vsets:
                self._vectors.compact(catalog, v.id, v.dim)
            if progress:
                progress(Progress("compact", 1, 1))
            for v in vsets[1:]:
                catalog.touch(v.id)
                self._update_index(catalog, v.key, index, index_options, None)
            catalog.touch(vset.id)  # the set indexed last is the one searched by default
            index_stats = self._update_index(catalog, vset.key, index, index_options, progress)
            skipped = [Skipped(p, r) for p, r in catalog.skipped()]
            counts = catalog.counts()
        self._loaded.clear()
        if not counts.get("ok"):
            raise NoImagesError(
                f"no images could be read in {self.root} ({len(skipped)} files skipped)"
            )
        return IndexReport(
            root=self.root,
            vector_set=vset.key,
            encoder=encoder.name,
            pooling=encoder.pooling,
            files_seen=len(entries),
            indexed=indexed,
            unchanged=unchanged,
            removed=len(deleted),
            skipped=skipped,
            newly_skipped=newly_skipped,
            seconds=time.perf_counter() - t0,
            embed_seconds=embed_seconds,
            interrupted=interrupted,
            index=index_stats,
        )

    def _embed(
        self,
        catalog: Catalog,
        vsets: list[VectorSetRow],
        encoder: Encoder,
        todo: list[FileEntry],
        batch_size: int,
        workers: int | None,
        progress: ProgressCallback | None,
        should_stop: Callable[[], bool] | None,
        flush_every: tuple[int, float],
    ) -> tuple[int, int, bool]:
        """Run the pipeline over ``todo``, writing shards as it goes (one per set; a
        joint encoder's vectors are split among its sets)."""
        records: list[FileRecord] = []
        vectors: list[NDArray[np.float32]] = []
        pending_vectors = 0
        indexed = skipped = done = 0
        last_flush = time.monotonic()

        def flush() -> None:
            nonlocal records, vectors, pending_vectors, last_flush
            if records:
                if not pending_vectors:
                    catalog.record(records, set_id=vsets[0].id)
                else:
                    block = np.concatenate(vectors)
                    parts = encoder.split(block) if isinstance(encoder, JointEncoder) else [block]
                    for v, part in zip(vsets, parts, strict=True):
                        shard = self._vectors.write_shard(v.id, part)
                        catalog.record(records, set_id=v.id, shard=shard)
            records, vectors, pending_vectors = [], [], 0
            last_flush = time.monotonic()

        if progress:
            progress(Progress("embed", 0, len(todo)))
        stream = embed_files(
            self.root,
            todo,
            encoder,
            batch_size=batch_size,
            workers=workers,
            should_stop=should_stop,
        )
        interrupted = False
        try:
            for batch in stream:
                records.extend(batch.records)
                vectors.append(batch.vectors)
                pending_vectors += len(batch.vectors)
                indexed += len(batch.vectors)
                skipped += len(batch.records) - len(batch.vectors)
                done += len(batch.records)
                if (
                    pending_vectors >= flush_every[0]
                    or time.monotonic() - last_flush > flush_every[1]
                ):
                    flush()
                if progress:
                    progress(Progress("embed", done, len(todo)))
            interrupted = done < len(todo)
        except KeyboardInterrupt:
            stream.close()
            flush()  # keep every finished batch: the next run resumes after them
            raise
        flush()
        return indexed, skipped, interrupted

    def _update_index(
        self,
        catalog: Catalog,
        key: str,
        kind: str | None,
        options: dict[str, Any] | None,
        progress: ProgressCallback | None,
    ) -> dict[str, Any]:
        """Record the index choice, then bring the saved index up to date and measure it."""
        vset = next(s for s in catalog.vector_sets() if s.key == key)
        current = catalog.index_config(vset.id)
        if kind is not None or options:
            choice = (kind or (current[0] if current else "auto"), dict(options or {}))
            if current is None or (current[0], current[1]) != choice:
                for metric in METRICS:
                    SetIndex(catalog, self._vectors, self.db, vset, metric).drop_saved()
                catalog.set_index_config(vset.id, choice[0], choice[1], {})
        if progress:
            progress(Progress("index", 0, 1))
        setindex = SetIndex(catalog, self._vectors, self.db, vset, DEFAULT_METRIC)
        built, changed = setindex.open()
        if built.kind != "exact" and changed:
            setindex.save(built, setindex.generation)
        stats = setindex.measure(built)
        cfg = catalog.index_config(vset.id)
        catalog.set_index_config(
            vset.id, cfg[0] if cfg else "auto", cfg[1] if cfg else {}, {DEFAULT_METRIC: stats}
        )
        if progress:
            progress(Progress("index", 1, 1))
        return stats

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """One writer at a time per collection (an advisory file lock)."""
        self.db.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            yield
            return
        with open(self.db / "lock", "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise CollectionBusyError(
                    f"another lookalike process is indexing {self.root}"
                ) from None
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # -- search -------------------------------------------------------------------------
    def _pick_set(
        self, model: str | None, pooling: str | None, key: str | None = None
    ) -> VectorSetRow:
        sets = [s for s in self._open_catalog(create=False).vector_sets() if s.count]
        if key:
            sets = [s for s in sets if s.key == key]
        if model:
            from lookalike.training.runs import resolve_model

            name, opts = resolve_model(model, self.db)
            sets = [s for s in sets if s.encoder == name]
            if "checkpoint" in opts:
                sets = [s for s in sets if s.options.get("checkpoint") == opts["checkpoint"]]
        if pooling:
            sets = [s for s in sets if s.pooling == pooling]
        if not sets:
            what = " ".join(x for x in (model, pooling and f"pooling={pooling}") if x)
            hint = f" --model {model}" if model else ""
            hint += f" --pooling {pooling}" if pooling else ""
            raise NotIndexedError(
                f"{self.root} has no vectors{' for ' + what if what else ''}; "
                f"run: lookalike index {self.root}{hint}"
            )
        return sets[0]

    @_serialised
    def encoder_for(self, vset: VectorSetRow) -> Encoder:
        """The encoder that made a vector set, built once and kept."""
        enc = self._encoders.get(vset.key)
        if enc is None:
            enc = create_encoder(vset.encoder, **vset.options)
            if enc.key != vset.key:
                raise EncoderMismatchError(
                    f"vectors were made by {vset.key}, but the installed encoder is {enc.key}; "
                    f"re-run: lookalike index {self.root} --model {vset.encoder}"
                )
            self._encoders[vset.key] = enc
        return enc

    def _index_for(self, vset: VectorSetRow, metric: str) -> _Loaded:
        catalog = self._open_catalog(create=False)
        stamp = (vset.updated_at, vset.count, catalog.index_config_key(vset.id))
        cached = self._loaded.get((vset.id, metric))
        if cached is not None and cached.stamp == stamp:
            return cached
        index, _ = SetIndex(catalog, self._vectors, self.db, vset, metric).open()
        ids, rels = catalog.set_paths(vset.id)
        root = str(self.root)
        paths = np.array([os.path.join(root, r) for r in rels], dtype=object)
        loaded = _Loaded(stamp, index, ids, paths)
        self._loaded[(vset.id, metric)] = loaded
        return loaded

    @_serialised
    def query_vector(
        self, query: str | os.PathLike[str], vset: VectorSetRow
    ) -> tuple[NDArray[np.float32], str | None]:
        """The vector of a query image, and its catalogue path when it is in the collection.

        A file of the collection that is unchanged since indexing reuses its stored vector.
        """
        qpath = Path(query).expanduser().resolve()
        rel = None
        with contextlib.suppress(ValueError):
            rel = qpath.relative_to(self.root).as_posix()
        if rel is not None:
            vec = self._stored_vector(vset, rel, qpath)
            if vec is not None:
                return vec, rel
        encoder = self.encoder_for(vset)
        img = read_image(qpath, size=encoder.preprocess.size)
        return encoder.encode(img.pixels[None])[0], rel

    def _stored_vector(
        self, vset: VectorSetRow, rel: str, qpath: Path
    ) -> NDArray[np.float32] | None:
        catalog = self._open_catalog(create=False)
        row = catalog.file(rel)
        if row is None or row.status != "ok":
            return None
        st = qpath.stat()
        if (st.st_size, st.st_mtime_ns) != (row.size, row.mtime_ns):
            return None
        loc = catalog.location(vset.id, row.id)
        if loc is None:
            return None
        return self._vectors.load(vset.id, vset.dim, [(row.id, *loc)])[0]

    @_serialised
    def search(
        self,
        query: str | os.PathLike[str] | NDArray[np.float32],
        k: int = DEFAULT_K,
        metric: str = DEFAULT_METRIC,
        *,
        model: str | None = None,
        pooling: str | None = None,
        include_self: bool = False,
        check_recall: bool = False,
    ) -> SearchResult:
        """The ``k`` images most similar to ``query`` (a path, in or outside the collection,
        or a vector of the set's encoder). A query that is itself a file of the collection is
        left out of its own results unless ``include_self``. ``check_recall`` also runs an
        exact search and reports the share of its top-k that the index found."""
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {', '.join(METRICS)}, not {metric!r}")
        if k < 1:
            raise ValueError("k must be at least 1")
        t0 = time.perf_counter()
        vset = self._pick_set(model, pooling)
        loaded = self._index_for(vset, metric)
        if isinstance(query, np.ndarray):
            qvec, self_rel, label = np.asarray(query, dtype=np.float32), None, "<vector>"
        else:
            qvec, self_rel = self.query_vector(query, vset)
            label = str(query)
        extra = 1 if (self_rel is not None and not include_self) else 0
        index = loaded.index
        hits = index.search(qvec.reshape(1, -1), k + extra)
        row = zip(hits.scores[0].tolist(), hits.ids[0].tolist(), strict=True)
        pairs = [(sc, f) for sc, f in row if f >= 0]
        paths = loaded.paths_of([f for _, f in pairs])
        if None in paths:  # the index knows a file this snapshot does not: ask the catalogue
            rels = self._open_catalog(create=False).file_paths([f for _, f in pairs])
            paths = [os.path.join(self.root, r) for r in rels]
        skip = os.path.join(self.root, self_rel) if extra and self_rel else None
        matches: list[Match] = []
        kept: list[int] = []
        for (score, fid), path in zip(pairs, paths, strict=True):
            if path == skip:
                continue
            matches.append(Match(len(matches) + 1, path, float(score), metric))
            kept.append(fid)
            if len(matches) == k:
                break
        recall = None
        if check_recall:
            recall = self._recall(vset, metric, qvec, kept, k, self_rel if extra else None)
        elapsed = time.perf_counter() - t0
        return SearchResult(
            query=label,
            matches=matches,
            metric=metric,
            vector_set=vset.key,
            encoder=vset.encoder,
            pooling=vset.pooling,
            searched=len(index),
            seconds=elapsed,
            index=index.kind,
            recall=recall,
        )

    def _recall(
        self,
        vset: VectorSetRow,
        metric: str,
        qvec: NDArray[np.float32],
        found: list[int],
        k: int,
        skip: str | None,
    ) -> float:
        """Share of the exact top-k (query file excluded) among the ids found."""
        catalog = self._open_catalog(create=False)
        ids, vectors = self._vectors.load_set(catalog, vset.id, vset.dim)
        skip_row = catalog.file(skip) if skip else None
        skip_id = skip_row.id if skip_row else None
        top = ids[exact_top(vectors, qvec.reshape(1, -1), min(k + 1, len(ids)), metric)[0]]
        truth = [int(f) for f in top if f != skip_id][:k]
        return len(set(truth) & set(found)) / max(1, len(truth))

    @_serialised
    def vectors(
        self, *, model: str | None = None, pooling: str | None = None, key: str | None = None
    ) -> VectorTable:
        """Every stored vector of a set (the latest, the one of ``model``/``pooling``, or
        exactly the encoder ``key``), with file ids and paths: the input of grouping and
        evaluation."""
        vset = self._pick_set(model, pooling, key)
        catalog = self._open_catalog(create=False)
        ids, vectors = self._vectors.load_set(catalog, vset.id, vset.dim)
        return VectorTable(
            vector_set=vset.key, ids=ids, paths=catalog.file_paths(ids.tolist()), vectors=vectors
        )

    @_serialised
    def knn(
        self,
        k: int = 10,
        *,
        model: str | None = None,
        pooling: str | None = None,
        batch: int = 4096,
        progress: ProgressCallback | None = None,
    ) -> KnnGraph:
        """The k-nearest-neighbour graph of the whole set by cosine similarity, through the
        set's search index, in batches: memory grows with n * k, never n * n."""
        vset = self._pick_set(model, pooling)
        index = self._index_for(vset, "cosine").index
        table = self.vectors(model=model, pooling=pooling)
        n = len(table)
        kk = min(k + 1, max(1, n))
        nbrs = np.full((n, k), -1, np.int64)
        sims = np.full((n, k), -np.inf, np.float32)
        for s in range(0, n, batch):
            hits = index.search(table.vectors[s : s + batch], kk)
            for r in range(len(hits.ids)):
                own = table.ids[s + r]
                keep = (hits.ids[r] != own) & (hits.ids[r] >= 0)
                row_ids, row_sims = hits.ids[r][keep][:k], hits.scores[r][keep][:k]
                nbrs[s + r, : len(row_ids)] = row_ids
                sims[s + r, : len(row_sims)] = row_sims
            if progress:
                progress(Progress("neighbours", min(n, s + batch), n))
        return KnnGraph(table.ids, nbrs, sims)

    @_serialised
    def vectors_set(self, *, model: str | None = None, pooling: str | None = None) -> VectorSetRow:
        """The vector set that ``model``/``pooling`` select (the latest by default)."""
        return self._pick_set(model, pooling)

    @_serialised
    def mark_not_duplicates(self, paths: list[str | os.PathLike[str]]) -> int:
        """Remember that these images are not duplicates of each other: grouping will never
        put any two of them in one group again. Returns the number of pairs recorded."""
        catalog = self._open_catalog(create=False)
        ids = []
        for p in paths:
            rel = self._relative(p)
            row = catalog.file(rel) if rel else None
            if row is None:
                raise NotIndexedError(f"{p} is not an indexed image of {self.root}")
            ids.append(row.id)
        pairs = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :]]
        return catalog.decide(pairs, "not-duplicates")

    @_serialised
    def not_duplicate_pairs(self) -> set[tuple[int, int]]:
        """Pairs of file ids the user marked as not duplicates."""
        return self._open_catalog(create=False).decided("not-duplicates")

    def _relative(self, path: str | os.PathLike[str]) -> str | None:
        p = Path(path).expanduser()
        p = p.resolve() if p.is_absolute() or p.exists() else (self.root / p).resolve()
        try:
            return p.relative_to(self.root).as_posix()
        except ValueError:
            return None

    @_serialised
    def files(self, ids: list[int] | None = None) -> dict[int, FileRow]:
        """Catalogue rows (path, size, sha256, width, height, format) by file id."""
        catalog = self._open_catalog(create=False)
        if ids is None:
            return {row.id: row for row in catalog.files().values()}
        return catalog.files_by_id(ids)

    # -- info ---------------------------------------------------------------------------
    @_serialised
    def info(self) -> CollectionInfo:
        """What is indexed, with which encoders, and which files were skipped and why."""
        catalog = self._open_catalog(create=False)
        counts = catalog.counts()
        sets = []
        for s in catalog.vector_sets():
            kind, options, stats = catalog.index_config(s.id) or ("auto", {}, {})
            sets.append(
                VectorSetInfo(
                    s.key,
                    s.encoder,
                    s.pooling,
                    s.image_size,
                    s.dim,
                    s.count,
                    s.updated_at,
                    kind,
                    options,
                    stats.get(DEFAULT_METRIC, {}),
                )
            )
        return CollectionInfo(
            root=self.root,
            db=self.db,
            files=sum(counts.values()),
            ok=counts.get("ok", 0),
            skipped=[Skipped(p, r) for p, r in catalog.skipped()],
            vector_sets=sets,
        )
