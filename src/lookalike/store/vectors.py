"""Vectors on disk: immutable ``.npy`` shards per vector set, compacted into one.

An index run appends a shard per batch (written atomically) and then records its rows in
the catalogue in one transaction; a shard that a crash left unrecorded is an orphan and is
removed on the next run. Compaction rewrites the live rows into one shard ordered by file
id, which is what search reads.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict, defaultdict
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from lookalike.store.atomic import save_npy_atomic
from lookalike.store.catalog import Catalog


class VectorStore:
    """The ``vectors/`` folder of a collection's database."""

    #: Shards kept open (memory-mapped) for reads: a shard never changes once written, so
    #: an open map stays right; a server reading one vector per query skips the header
    #: parse and the mapping each time.
    OPEN_SHARDS = 8

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._open: OrderedDict[Path, NDArray[np.float32]] = OrderedDict()
        self._open_lock = threading.Lock()

    def _shard(self, path: Path) -> NDArray[np.float32]:
        """A shard's rows, memory-mapped (the most recently used few are kept open)."""
        with self._open_lock:
            data = self._open.get(path)
            if data is not None:
                self._open.move_to_end(path)
                return data
        data = np.load(path, mmap_mode="r")
        with self._open_lock:
            self._open[path] = data
            while len(self._open) > self.OPEN_SHARDS:
                self._open.popitem(last=False)
        return data

    def set_dir(self, set_id: int) -> Path:
        """Folder of one vector set's shards."""
        return self.root / f"set-{set_id}"

    def write_shard(self, set_id: int, vectors: NDArray[np.float32]) -> str:
        """Write a new shard atomically and return its name."""
        name = f"shard-{uuid.uuid4().hex}.npy"
        save_npy_atomic(self.set_dir(set_id) / name, np.ascontiguousarray(vectors, np.float32))
        return name

    def load(
        self, set_id: int, dim: int, locations: list[tuple[int, str, int]]
    ) -> NDArray[np.float32]:
        """Gather the vectors at ``locations`` ((file_id, shard, row)), in that order."""
        if not locations:
            return np.zeros((0, dim), dtype=np.float32)
        folder = self.set_dir(set_id)
        shards = {shard for _, shard, _ in locations}
        if len(shards) == 1:
            shard = next(iter(shards))
            rows = np.fromiter((r for _, _, r in locations), dtype=np.int64, count=len(locations))
            data = self._shard(folder / shard)
            if len(data) == len(rows) and np.array_equal(rows, np.arange(len(rows))):
                return np.array(data, dtype=np.float32)  # the compacted, common case
            return np.asarray(data[rows], dtype=np.float32)
        out = np.empty((len(locations), dim), dtype=np.float32)
        by_shard: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for pos, (_, shard, row) in enumerate(locations):
            by_shard[shard].append((pos, row))
        for shard, pairs in by_shard.items():
            data = self._shard(folder / shard)
            pos = np.fromiter((p for p, _ in pairs), dtype=np.int64, count=len(pairs))
            rows = np.fromiter((r for _, r in pairs), dtype=np.int64, count=len(pairs))
            out[pos] = data[rows]
        return out

    def load_set(
        self, catalog: Catalog, set_id: int, dim: int
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Every vector of a set and its file id, ordered by file id."""
        locations = catalog.locations(set_id)
        ids = np.fromiter((f for f, _, _ in locations), np.int64, len(locations))
        return ids, self.load(set_id, dim, locations)

    def compact(self, catalog: Catalog, set_id: int, dim: int) -> bool:
        """Rewrite a set's live vectors into one shard when it has several or dead rows.

        Returns whether anything was rewritten. Safe to interrupt: the catalogue points to
        the old shards until the new one is complete and the switch is committed.
        """
        locations = catalog.locations(set_id)
        shards = {shard for _, shard, _ in locations}
        if len(shards) <= 1:
            if shards:
                data = np.load(self.set_dir(set_id) / next(iter(shards)), mmap_mode="r")
                if len(data) == len(locations):
                    self.remove_orphans(set_id, shards)
                    return False
            else:
                self.remove_orphans(set_id, set())
                return False
        vectors = self.load(set_id, dim, locations)
        name = self.write_shard(set_id, vectors)
        catalog.repoint(set_id, [f for f, _, _ in locations], name)
        self.remove_orphans(set_id, {name})
        return True

    def remove_orphans(self, set_id: int, keep: set[str]) -> int:
        """Delete shard files of a set that the catalogue does not point to."""
        folder = self.set_dir(set_id)
        removed = 0
        if folder.is_dir():
            for f in folder.iterdir():
                if f.name not in keep and (f.suffix == ".npy" or f.name.endswith(".tmp")):
                    with self._open_lock:
                        self._open.pop(f, None)
                    f.unlink(missing_ok=True)
                    removed += 1
        return removed
