"""The search index of one vector set and metric: chosen, built, kept in step with the catalogue,
and saved beside it.

An approximate index is saved under ``DB/indexes/set-N-METRIC/`` in a fresh folder per
save, and a pointer file (written atomically) names the current one, so a crash mid-save
leaves the previous index usable. Every vector carries the write generation of the batch
that stored it; an index records the generation it has seen, so on load it adds what is
new or changed and removes what is gone, without a rebuild.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from lookalike.index import VectorIndex, create_index, load_index, scoped_defaults
from lookalike.index.auto import choose_kind
from lookalike.results import IndexStats
from lookalike.store import Catalog, VectorSetRow, VectorStore, write_bytes_atomic

RECALL_SAMPLE = 200
RECALL_K = 10
#: The recall@10 an approximate index is tuned to on the sample (its search setting).
RECALL_TARGET = 0.99


@dataclass(frozen=True)
class IndexChoice:
    """What a set asks for: ``auto`` or a kind, with its options."""

    kind: str = "auto"
    options: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)


def exact_top(
    vectors: NDArray[np.float32], queries: NDArray[np.float32], k: int, metric: str
) -> NDArray[np.int64]:
    """Row numbers of the exact top-k, by the same exact index every backend is held to."""
    index = create_index("exact", vectors.shape[1], metric)
    index.add(np.arange(len(vectors), dtype=np.int64), vectors)
    return index.search(queries, k).ids


class SetIndex:
    """Builds, loads, syncs and saves the search index of one vector set and metric."""

    def __init__(
        self, catalog: Catalog, store: VectorStore, db: Path, vset: VectorSetRow, metric: str
    ) -> None:
        self.catalog, self.store, self.vset, self.metric = catalog, store, vset, metric
        self.folder = Path(db) / "indexes" / f"set-{vset.id}-{metric}"
        cfg = catalog.index_config(vset.id)
        self.choice = IndexChoice(*cfg) if cfg else IndexChoice()
        self.generation = 0

    # -- choosing ---------------------------------------------------------------------------
    def resolved(self) -> tuple[str, dict[str, Any]]:
        """The concrete kind and options for the set's current size."""
        kind = self.choice.kind
        if kind == "auto":
            kind = choose_kind(self.vset.count, self.vset.dim)
        options = {**scoped_defaults(kind, self.scope), **self.choice.options}
        return kind, options

    @property
    def scope(self) -> str:
        """A short name unique to this collection, set and metric, for backends that keep
        the index elsewhere (a Milvus collection name)."""
        root = hashlib.sha1(str(self.catalog.path.parent).encode()).hexdigest()[:10]
        return f"{root}_s{self.vset.id}_{self.metric}"

    # -- persistence ------------------------------------------------------------------------
    def _pointer(self) -> Path:
        return self.folder / "current.json"

    def load_saved(self) -> tuple[VectorIndex, int] | None:
        """The saved index and the generation it has seen, if it matches the choice."""
        try:
            current = json.loads(self._pointer().read_text())
            index = load_index(self.folder / current["folder"])
        except (OSError, ValueError, KeyError):
            return None
        kind, options = self.resolved()
        if index.kind != kind or any(index.params().get(k) != v for k, v in options.items()):
            return None
        return index, int(current.get("gen", 0))

    def save(self, index: VectorIndex, gen: int) -> None:
        """Write a new version, switch the pointer to it, then delete older versions."""
        name = f"v-{uuid.uuid4().hex[:12]}"
        index.save(self.folder / name)
        write_bytes_atomic(self._pointer(), json.dumps({"folder": name, "gen": gen}).encode())
        for old in self.folder.iterdir():
            if old.is_dir() and old.name != name:
                shutil.rmtree(old, ignore_errors=True)

    def drop_saved(self) -> None:
        """Forget saved versions (the set's index kind changed)."""
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- building and syncing ---------------------------------------------------------------
    def open(self) -> tuple[VectorIndex, bool]:
        """An index in step with the catalogue, and whether it changed since it was saved."""
        kind, options = self.resolved()
        saved = self.load_saved()
        if saved is None:
            index, seen = create_index(kind, self.vset.dim, self.metric, **options), -1
        else:
            index, seen = saved
        changed = self.sync(index, seen)
        return index, changed or saved is None

    def sync(self, index: VectorIndex, seen: int) -> bool:
        """Add new and changed vectors, remove gone ones; returns whether anything moved."""
        live, gens = self.catalog.generations(self.vset.id)
        present = index.ids() if seen >= 0 else np.zeros(0, np.int64)
        stale = live[gens > seen] if seen >= 0 else np.zeros(0, np.int64)
        gone = np.setdiff1d(present, live, assume_unique=True)
        drop = np.union1d(gone, np.intersect1d(stale, present))
        if len(drop):
            index.remove(drop)
        todo = np.setdiff1d(live, np.setdiff1d(present, drop), assume_unique=True)
        if len(todo):
            locs = {f: (s, r) for f, s, r in self.catalog.locations(self.vset.id)}
            rows = [(int(f), *locs[int(f)]) for f in todo]
            vectors = self.store.load(self.vset.id, self.vset.dim, rows)
            paths = self.catalog.file_paths([int(f) for f in todo])
            for s in range(0, len(todo), 65536):
                index.add(todo[s : s + 65536], vectors[s : s + 65536], paths[s : s + 65536])
        self.generation = int(gens.max()) if len(gens) else 0
        return bool(len(drop) or len(todo))

    def _sample(self) -> tuple[NDArray[np.float32], NDArray[np.int64], NDArray[np.int64]] | None:
        """Stored vectors as queries, their ids, and the ids of each one's exact top
        ``RECALL_K`` others (itself left out, as a search for a stored image does)."""
        ids, vectors = self.store.load_set(self.catalog, self.vset.id, self.vset.dim)
        if len(ids) < 2:
            return None
        rng = np.random.default_rng(0)
        sample = rng.choice(len(ids), size=min(RECALL_SAMPLE, len(ids)), replace=False)
        k = min(RECALL_K, len(ids) - 1)
        top = ids[exact_top(vectors, vectors[sample], k + 1, self.metric)]
        return vectors[sample], ids[sample], _others(top, ids[sample], k)

    def measure(self, index: VectorIndex, *, tune: bool = False) -> IndexStats:
        """Memory and recall@10 against exact search on a sample of stored vectors. With
        ``tune``, the index first takes the cheapest search setting that reaches
        :data:`RECALL_TARGET` on that sample (unless the user set it)."""
        recall = 1.0
        if index.kind != "exact" and len(index) > 0 and (got := self._sample()) is not None:
            queries, own, truth = got
            k = truth.shape[1]

            def measured() -> float:
                found = _others(index.search(queries, k + 1).ids, own, k)
                return float(
                    np.mean(
                        [
                            len(set(a) & set(b)) / k
                            for a, b in zip(found.tolist(), truth.tolist(), strict=True)
                        ]
                    )
                )

            if tune and not set(index.tunable) & set(self.choice.options):
                index.tune(measured, RECALL_TARGET)
            recall = round(measured(), 4)
        return IndexStats(index.kind, index.params(), index.memory_bytes, len(index), recall)


def _others(top: NDArray[np.int64], own: NDArray[np.int64], k: int) -> NDArray[np.int64]:
    """Each row's first ``k`` ids other than its own (-1 where fewer were found)."""
    out = np.full((len(top), k), -1, np.int64)
    for r, (row, me) in enumerate(zip(top.tolist(), own.tolist(), strict=True)):
        rest = [i for i in row if i != me][:k]
        out[r, : len(rest)] = rest
    return out
