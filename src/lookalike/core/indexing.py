"""An index run: find what changed on disk, embed it with periodic flushes, and bring
the stored vectors and search indexes up to date.

A run killed at any moment resumes from the last vectors written: vectors are saved
every ``flush_images`` images or ``flush_seconds`` seconds, whichever comes first, each
flush in one catalogue transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from upath import UPath

from lookalike.core.search_indexes import SearchIndexes
from lookalike.encoders import Encoder
from lookalike.encoders.joint import JointEncoder
from lookalike.engines import Engine, LocalEngine
from lookalike.errors import NoImagesError
from lookalike.imageio import FileEntry, walk_files
from lookalike.results import IndexReport, Progress, Skipped
from lookalike.store import Catalog, FileRecord, VectorSetRow, VectorStore

ProgressCallback = Callable[[Progress], None]

#: Vectors are written to disk at least this often (seconds) and per this many images,
#: which bounds the work a killed run loses.
FLUSH_SECONDS = 10.0
FLUSH_IMAGES = 4096


@dataclass
class ChangePlan:
    """What an index run has to do, from comparing the folder with the catalogue."""

    entries: list[FileEntry]
    todo: list[FileEntry] = field(default_factory=list)  # new, changed, or missing a vector
    unreadable: list[FileRecord] = field(default_factory=list)  # failed before decoding
    changed: list[int] = field(default_factory=list)  # file ids whose vectors are stale
    deleted: list[int] = field(default_factory=list)  # file ids gone from disk
    unchanged: int = 0


def plan_changes(
    catalog: Catalog, entries: list[FileEntry], vsets: list[VectorSetRow]
) -> ChangePlan:
    """Compare files on disk (size, mtime) with the catalogue; a file is embedded again when
    it changed or when any of ``vsets`` lacks its vector."""
    known = catalog.files()
    embedded = set.intersection(*(catalog.embedded_file_ids(v.id) for v in vsets))
    plan = ChangePlan(entries)
    on_disk = set()
    for e in entries:
        on_disk.add(e.relpath)
        row = known.get(e.relpath)
        if e.error:
            plan.unreadable.append(FileRecord(e.relpath, e.size, e.mtime_ns, error=e.error))
            continue
        if row is not None and (row.size, row.mtime_ns) != (e.size, e.mtime_ns):
            plan.changed.append(row.id)
            plan.todo.append(e)
        elif row is None or (row.status == "ok" and row.id not in embedded):
            plan.todo.append(e)
        elif row.status == "ok":
            plan.unchanged += 1
    plan.deleted = [row.id for path, row in known.items() if path not in on_disk]
    return plan


@dataclass(frozen=True)
class RunSettings:
    """How an index run embeds: batch size, workers, flush cadence, when to stop."""

    batch_size: int = 32
    workers: int | None = None
    flush_images: int = FLUSH_IMAGES
    flush_seconds: float = FLUSH_SECONDS
    progress: ProgressCallback | None = None
    should_stop: Callable[[], bool] | None = None
    #: Make the first encoder's set the collection's default (``index``, the UI's Search
    #: page); evaluation fills sets without changing what everyday commands use.
    make_default: bool = True
    #: Where decoding and encoding run (the local threads unless given).
    engine: Engine | None = None


def run_index(
    root: Path | UPath,
    db: Path,
    catalog: Catalog,
    store: VectorStore,
    indexes: SearchIndexes,
    members: Sequence[Encoder],
    settings: RunSettings,
    index_kind: str | None = None,
    index_options: dict[str, Any] | None = None,
) -> IndexReport:
    """Embed new and changed images into the sets of ``members`` (one decode per image,
    one forward pass where encoders share a network), drop deleted ones, sync the search
    indexes. The first member's set is reported and, unless ``settings.make_default`` is off,
    becomes the collection's default."""
    t0 = time.perf_counter()
    progress = settings.progress
    entries = list(walk_files(root, exclude=(db,)))
    if progress:
        progress(Progress("scan", len(entries), len(entries)))
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
    plan = plan_changes(catalog, entries, vsets)
    catalog.forget(plan.deleted, plan.changed)
    if plan.unreadable:
        catalog.record(plan.unreadable)
    for v in vsets:
        store.remove_orphans(v.id, catalog.shards(v.id))
    if not entries:
        raise NoImagesError(f"no files found in {root}")

    encoder = JointEncoder(list(members)) if len(members) > 1 else members[0]
    t_embed = time.perf_counter()
    indexed, newly_skipped, interrupted = embed_run(
        root, catalog, store, vsets, encoder, plan.todo, settings
    )
    embed_seconds = time.perf_counter() - t_embed
    newly_skipped += len(plan.unreadable)
    if progress:
        progress(Progress("compact", 0, 1))
    for v in vsets:
        store.compact(catalog, v.id, v.dim)
    if progress:
        progress(Progress("compact", 1, 1))
    for v in vsets[1:]:
        catalog.touch(v.id)
        indexes.update(catalog, _fresh(catalog, v), index_kind, index_options)
    catalog.touch(vsets[0].id)
    if settings.make_default:
        catalog.set_default_set(vsets[0].key)
    stats = indexes.update(catalog, _fresh(catalog, vsets[0]), index_kind, index_options, progress)
    skipped = [Skipped(p, r) for p, r in catalog.skipped()]
    if not catalog.counts().get("ok"):
        raise NoImagesError(f"no images could be read in {root} ({len(skipped)} files skipped)")
    return IndexReport(
        root=root,
        vector_set=vsets[0].key,
        encoder=members[0].name,
        pooling=members[0].pooling,
        files_seen=len(entries),
        indexed=indexed,
        unchanged=plan.unchanged,
        removed=len(plan.deleted),
        skipped=skipped,
        newly_skipped=newly_skipped,
        seconds=time.perf_counter() - t0,
        embed_seconds=embed_seconds,
        interrupted=interrupted,
        index=stats,
    )


def _fresh(catalog: Catalog, vset: VectorSetRow) -> VectorSetRow:
    """The set's row as the catalogue has it now (counts change during a run)."""
    return next(s for s in catalog.vector_sets() if s.key == vset.key)


def embed_run(
    root: Path | UPath,
    catalog: Catalog,
    store: VectorStore,
    vsets: list[VectorSetRow],
    encoder: Encoder,
    todo: list[FileEntry],
    settings: RunSettings,
) -> tuple[int, int, bool]:
    """Run the pipeline over ``todo``, writing shards as it goes (one per set; a joint
    encoder's vectors are split among its sets). Returns (indexed, skipped, interrupted)."""
    records: list[FileRecord] = []
    vectors: list[NDArray[np.float32]] = []
    pending = indexed = skipped = done = 0
    last_flush = time.monotonic()
    progress = settings.progress

    def flush() -> None:
        nonlocal records, vectors, pending, last_flush
        if records:
            if not pending:
                catalog.record(records, set_id=vsets[0].id)
            else:
                block = np.concatenate(vectors)
                parts = encoder.split(block) if isinstance(encoder, JointEncoder) else [block]
                for v, part in zip(vsets, parts, strict=True):
                    shard = store.write_shard(v.id, part)
                    catalog.record(records, set_id=v.id, shard=shard)
        records, vectors, pending = [], [], 0
        last_flush = time.monotonic()

    if progress:
        progress(Progress("embed", 0, len(todo)))
    engine = settings.engine or LocalEngine()
    stream = engine.stream(
        root,
        todo,
        encoder,
        batch_size=settings.batch_size,
        workers=settings.workers,
        should_stop=settings.should_stop,
    )
    try:
        for batch in stream:
            records.extend(batch.records)
            vectors.append(batch.vectors)
            pending += len(batch.vectors)
            indexed += len(batch.vectors)
            skipped += len(batch.records) - len(batch.vectors)
            done += len(batch.records)
            if (
                pending >= settings.flush_images
                or time.monotonic() - last_flush > settings.flush_seconds
            ):
                flush()
            if progress:
                progress(Progress("embed", done, len(todo)))
    except KeyboardInterrupt:
        stream.close()
        flush()  # keep every finished batch: the next run resumes after them
        raise
    flush()
    return indexed, skipped, done < len(todo)
