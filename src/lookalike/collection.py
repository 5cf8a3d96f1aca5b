"""A collection: a folder of images, its catalogue and its vectors. The core API.

>>> col = Collection.open("photos")
>>> report = col.index()                      # incremental, resumable
>>> for m in col.search("query.jpg", k=8):   # exact search, cosine by default
...     print(m.rank, m.path, m.score)

``Collection`` is the front: it composes the parts in :mod:`lookalike.core` (change
detection and the embed run, the search-index cache, vector-set selection) and the store.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray
from upath import UPath

from lookalike.config import DB_DIRNAME, DEFAULT_ENCODER, DEFAULT_K, DEFAULT_METRIC, METRICS
from lookalike.core.indexing import FLUSH_IMAGES, FLUSH_SECONDS, RunSettings, run_index
from lookalike.core.parts import CATALOG_FILE, Parts, default_parts
from lookalike.core.search_indexes import LoadedIndex
from lookalike.core.vector_sets import collection_info, select_set
from lookalike.encoders import Encoder
from lookalike.encoders.resolve import resolve_encoder
from lookalike.engines import Engine, create_engine
from lookalike.errors import CollectionNotFoundError, InvalidOptionError, NotIndexedError
from lookalike.imageio import read_image
from lookalike.imageio.remote import file_stat, is_remote, is_url, open_folder
from lookalike.index.rerank import RERANK_NEIGHBOURS, expand_queries
from lookalike.results import (
    CollectionInfo,
    IndexReport,
    Match,
    Progress,
    SearchResult,
    VectorTable,
)
from lookalike.store import Catalog, FileRow, VectorSetRow, writer_lock

ProgressCallback = Callable[[Progress], None]
F = TypeVar("F", bound=Callable[..., Any])


def _serialised(method: F) -> F:
    """Run a public method under the collection's guard: one call at a time, so a
    collection can be shared between threads (the web UI's browser sessions)."""

    @functools.wraps(method)
    def wrapper(self: Collection, *args: Any, **kwargs: Any) -> Any:
        with self.guard:
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _result(
    label: str,
    matches: list[Match],
    metric: str,
    vset: VectorSetRow,
    loaded: LoadedIndex,
    seconds: float,
    recall: float | None = None,
    rerank: bool = False,
) -> SearchResult:
    """A search's answer, naming the vector set and index that gave it."""
    return SearchResult(
        query=label,
        matches=matches,
        metric=metric,
        vector_set=vset.key,
        encoder=vset.encoder,
        pooling=vset.pooling,
        searched=len(loaded.index),
        seconds=seconds,
        index=loaded.index.kind,
        recall=recall,
        rerank=rerank,
    )


class Collection:
    """A folder of images plus its embedded database (``DIR/.lookalike`` by default).

    Safe to share between threads: public methods run one at a time under ``guard``,
    which callers may also hold to make several calls one step.
    """

    def __init__(self, root: Path | UPath, db: Path, parts: Parts | None = None) -> None:
        self.guard = threading.RLock()
        self.root = root
        self.db = db
        self.parts = parts or default_parts(root, db)
        self._catalog: Catalog | None = None

    @classmethod
    def open(
        cls, root: str | os.PathLike[str], *, db: str | os.PathLike[str] | None = None
    ) -> Collection:
        """Open the collection rooted at ``root``; nothing is written until ``index``.

        ``root`` may be an fsspec URL (``s3://bucket/photos``, ``file:///data``, ...): the
        files are then listed and read through its filesystem, and the catalogue and
        vectors live in ``db``, a folder on this machine, which such a collection needs."""
        if is_url(root):
            if db is None:
                raise InvalidOptionError(
                    f"{root} is not on this machine: give a local folder for its catalogue "
                    "and vectors with --db FOLDER"
                )
            return cls(open_folder(str(root)), Path(db).expanduser().resolve())
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
        return (self.db / CATALOG_FILE).exists()

    @property
    def catalog(self) -> Catalog:
        """The catalogue of an indexed collection (:class:`NotIndexedError` before)."""
        return self._open_catalog(create=False)

    def _open_catalog(self, create: bool) -> Catalog:
        if self._catalog is None:
            if not create and not self.is_indexed:
                raise NotIndexedError(
                    f"{self.root} is not indexed yet; run: lookalike index {self.root}"
                    + (f" --db {self.db}" if is_remote(self.root) else "")
                )
            self._catalog = self.parts.open_catalog()
        return self._catalog

    @_serialised
    def close(self) -> None:
        """Release the catalogue, encoders and loaded indexes."""
        if self._catalog is not None:
            self._catalog.close()
            self._catalog = None
        self.parts.encoders.close()
        self.parts.indexes.clear()

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
        make_default: bool = True,
        engine: str | Engine = "local",
        engine_options: dict[str, Any] | None = None,
    ) -> IndexReport:
        """Embed new and changed images, drop deleted ones, and report what happened.

        ``model`` is anything ``--model`` takes (a registered name, a training run, a
        checkpoint). ``also`` names more encoders filled in the same pass: each image is
        decoded once, and poolings of one network share its forward pass. The report is
        the first encoder's, and its set becomes the collection's default: the one plain
        ``search``, ``group`` and ``info`` use. Evaluation passes ``make_default=False``, so
        that measuring other encoders never changes what everyday commands use.

        Runs again cheaply: only what changed on disk is decoded. A run killed at any
        moment resumes from the last vectors written (every ``flush_images`` images or
        ``flush_seconds`` seconds). ``index`` picks the search index kind (``auto``,
        ``exact``, ``hnsw``, ``ivf``, ``ivfpq``, ``lsh``, ``milvus``) with
        ``index_options``; the choice is remembered for the vector set. ``engine`` says
        where images are decoded and encoded: ``local`` threads, or ``ray`` (Ray Data on a
        local Ray, or a cluster named by ``engine_options={"address": ...}``); the vectors
        and the catalogue are the same either way.
        """
        if encoder is None:
            opts: dict[str, Any] = {"pooling": pooling} if pooling else {}
            encoder = resolve_encoder(model, self.db, **opts)
        members = [encoder, *(e for e in also if e.key != encoder.key)]
        runner = (
            create_engine(engine, **(engine_options or {})) if isinstance(engine, str) else engine
        )
        run = RunSettings(
            batch_size,
            workers,
            flush_images,
            flush_seconds,
            progress,
            should_stop,
            make_default,
            runner,
        )
        try:
            with writer_lock(self.db, str(self.root)):
                catalog = self._open_catalog(create=True)
                p = self.parts
                return run_index(
                    self.root, self.db, catalog, p.store, p.indexes, members, run, index,
                    index_options,
                )  # fmt: skip
        finally:
            self.parts.indexes.clear()
            if runner is not engine:  # made here: released here
                runner.close()

    # -- search -------------------------------------------------------------------------
    @_serialised
    def vectors_set(
        self,
        *,
        model: str | None = None,
        pooling: str | None = None,
        key: str | None = None,
        precision: str | None = None,
    ) -> VectorSetRow:
        """The vector set that ``model``/``pooling``/``key``/``precision`` select (the
        collection's default set when nothing is given)."""
        return select_set(self.catalog, self.root, self.db, model, pooling, key, precision)

    @_serialised
    def encoder_for(self, vset: VectorSetRow) -> Encoder:
        """The encoder that made a vector set, built once and kept."""
        return self.parts.encoders.get(vset)

    @_serialised
    def index_for(self, vset: VectorSetRow, metric: str = DEFAULT_METRIC) -> LoadedIndex:
        """The search index of a vector set, loaded once and kept while it is current."""
        return self.parts.indexes.get(self.catalog, vset, metric)

    @_serialised
    def query_vector(
        self, query: str | os.PathLike[str], vset: VectorSetRow
    ) -> tuple[NDArray[np.float32], str | None]:
        """The vector of a query image, and its catalogue path when it is in the collection.

        A file of the collection that is unchanged since indexing reuses its stored vector.
        """
        rel = self.relative(query)
        qpath = self.root / rel if rel is not None else Path(query).expanduser().resolve()
        if rel is not None:
            vec = self._stored_vector(vset, rel, qpath)
            if vec is not None:
                return vec, rel
        encoder = self.encoder_for(vset)
        img = read_image(qpath, size=encoder.preprocess.size)
        return encoder.encode(img.pixels[None])[0], rel

    def _stored_vector(
        self, vset: VectorSetRow, rel: str, qpath: Path | UPath
    ) -> NDArray[np.float32] | None:
        found = self.catalog.stored(vset.id, rel)
        if found is None:
            return None
        file_id, size, mtime_ns, shard, row = found
        if file_stat(qpath) != (size, mtime_ns):
            return None
        return self.parts.store.load(vset.id, vset.dim, [(file_id, shard, row)])[0]

    def _vectors_of(self, vset: VectorSetRow, file_ids: list[int]) -> NDArray[np.float32]:
        """Stored vectors of some files of a set, in order."""
        where = [(f, *loc) for f in file_ids if (loc := self.catalog.location(vset.id, f))]
        return self.parts.store.load(vset.id, vset.dim, where)

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
        rerank: bool = False,
        precision: str | None = None,
        key: str | None = None,
    ) -> SearchResult:
        """The ``k`` images most similar to ``query`` (a path, in or outside the collection,
        or a vector of the set's encoder). A query that is itself a file of the collection is
        left out of its own results unless ``include_self``. ``check_recall`` also runs an
        exact search and reports the share of its top-k that the index found. ``rerank``
        searches again with the query expanded by its nearest matches (any index kind; one
        more search and a few stored vector reads)."""
        t0 = time.perf_counter()
        vset, loaded = self._searched(k, metric, model, pooling, precision, key)
        qvec, self_rel, label = self._query(query, vset)
        skip = self_rel if (self_rel is not None and not include_self) else None
        first = max(k, RERANK_NEIGHBOURS) if rerank else k
        matches, kept = loaded.matches(self.catalog, qvec, first, skip)
        if rerank and kept:
            nearest = self._vectors_of(vset, kept[:RERANK_NEIGHBOURS])
            qvec = expand_queries(qvec.reshape(1, -1), nearest[None])[0]
            matches, kept = loaded.matches(self.catalog, qvec, k, skip)
        recall = None
        if check_recall:
            recall = self.parts.indexes.recall(self.catalog, vset, metric, qvec, kept, k, skip)
        return _result(
            label, matches, metric, vset, loaded, time.perf_counter() - t0, recall, rerank
        )

    def _query(
        self, query: str | os.PathLike[str] | NDArray[np.float32], vset: VectorSetRow
    ) -> tuple[NDArray[np.float32], str | None, str]:
        """A query's vector, its catalogue path when it is a file of the collection, and
        how results name it."""
        if isinstance(query, np.ndarray):
            return np.asarray(query, dtype=np.float32), None, "<vector>"
        qvec, rel = self.query_vector(query, vset)
        return qvec, rel, str(query)

    def _searched(
        self,
        k: int,
        metric: str,
        model: str | None,
        pooling: str | None,
        precision: str | None,
        key: str | None,
    ) -> tuple[VectorSetRow, LoadedIndex]:
        """The checked options' vector set and its loaded index."""
        if metric not in METRICS:
            raise InvalidOptionError(f"metric must be one of {', '.join(METRICS)}, not {metric!r}")
        if k < 1:
            raise InvalidOptionError("k must be at least 1")
        vset = self.vectors_set(model=model, pooling=pooling, precision=precision, key=key)
        return vset, self.index_for(vset, metric)

    @_serialised
    def search_many(
        self,
        queries: Sequence[str | os.PathLike[str] | NDArray[np.float32]],
        k: int = DEFAULT_K,
        metric: str = DEFAULT_METRIC,
        *,
        model: str | None = None,
        pooling: str | None = None,
        precision: str | None = None,
        key: str | None = None,
    ) -> list[SearchResult]:
        """``search`` for several queries at once, in one index search: what a server
        does with the queries that arrive together."""
        t0 = time.perf_counter()
        vset, loaded = self._searched(k, metric, model, pooling, precision, key)
        asked = [self._query(q, vset) for q in queries]
        if not asked:
            return []
        vectors = np.stack([v.reshape(-1) for v, _, _ in asked])
        found = loaded.matches_many(self.catalog, vectors, k, [rel for _, rel, _ in asked])
        seconds = time.perf_counter() - t0
        return [
            _result(label, matches, metric, vset, loaded, seconds)
            for (_, _, label), (matches, _) in zip(asked, found, strict=True)
        ]

    @_serialised
    def vectors(
        self, *, model: str | None = None, pooling: str | None = None, key: str | None = None
    ) -> VectorTable:
        """Every stored vector of a set (the latest, the one of ``model``/``pooling``, or
        exactly the encoder ``key``), with file ids and paths: the input of grouping and
        evaluation."""
        vset = self.vectors_set(model=model, pooling=pooling, key=key)
        ids, vectors = self.parts.store.load_set(self.catalog, vset.id, vset.dim)
        return VectorTable(
            vector_set=vset.key,
            ids=ids,
            paths=self.catalog.file_paths(ids.tolist()),
            vectors=vectors,
            encoder=vset.encoder,
            pooling=vset.pooling,
        )

    def relative(self, path: str | os.PathLike[str]) -> str | None:
        """``path`` relative to the root, as the catalogue spells it (None if outside).
        A relative path is taken from the working folder when it exists there, else from
        the root. In a URL collection, a URL inside its folder or a catalogue path."""
        if is_remote(self.root):
            text = str(path)
            base = str(self.root).rstrip("/") + "/"
            if text.startswith(base):
                return text[len(base) :]
            if is_url(text) or Path(text).is_absolute():
                return None
            return text if self.catalog.file(text) is not None else None
        p = Path(path).expanduser()
        p = p.resolve() if p.is_absolute() or p.exists() else (self.root / p).resolve()
        with contextlib.suppress(ValueError):
            return p.relative_to(self.root).as_posix()
        return None

    @_serialised
    def files(self, ids: list[int] | None = None) -> dict[int, FileRow]:
        """Catalogue rows (path, size, sha256, width, height, format) by file id."""
        if ids is None:
            return {row.id: row for row in self.catalog.files().values()}
        return self.catalog.files_by_id(ids)

    # -- info ---------------------------------------------------------------------------
    @_serialised
    def info(self, *, measures_version: str | None = None) -> CollectionInfo:
        """What is indexed, with which encoders, and which files were skipped and why.
        ``measures_version`` (:func:`lookalike.grouping.measures.measures_version`): count
        only the kept pixel measures a grouping by this release would reuse (all of them
        otherwise, older versions' too until the next grouping prunes them)."""
        return collection_info(self.catalog, self.root, self.db, measures_version=measures_version)
