"""The search indexes of a collection's vector sets: loaded once, kept while the catalogue
says they are current, refreshed and saved after an index run."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from lookalike.config import DEFAULT_METRIC, METRICS
from lookalike.core.set_index import SetIndex, exact_top
from lookalike.index import VectorIndex
from lookalike.results import IndexStats, Match, Progress
from lookalike.store import Catalog, VectorSetRow, VectorStore


@dataclass
class LoadedIndex:
    """A vector set's index loaded for search, with the catalogue state it was loaded at
    and the set's paths by file id (so a search needs no catalogue query)."""

    stamp: tuple[float, int, str]
    index: VectorIndex
    ids: NDArray[np.int64]  # sorted file ids
    paths: NDArray[np.object_]  # absolute path strings, aligned with ``ids``
    root: str  # the collection's root, which ``paths`` start with

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

    def matches(
        self, catalog: Catalog, query: NDArray[np.float32], k: int, skip: str | None
    ) -> tuple[list[Match], list[int]]:
        """The ``k`` best matches of one query vector (the file ``skip``, relative to the
        root, left out) and their file ids."""
        return self.matches_many(catalog, query.reshape(1, -1), k, [skip])[0]

    def matches_many(
        self,
        catalog: Catalog,
        queries: NDArray[np.float32],
        k: int,
        skips: list[str | None],
    ) -> list[tuple[list[Match], list[int]]]:
        """The matches of several query vectors from one index search (a flat scan reads
        the stored vectors once for all of them)."""
        hits = self.index.search(queries, k + (1 if any(skips) else 0))
        out = []
        for r, skip in enumerate(skips):
            row = zip(hits.scores[r].tolist(), hits.ids[r].tolist(), strict=True)
            pairs = [(sc, f) for sc, f in row if f >= 0]
            paths = self.paths_of([f for _, f in pairs])
            if None in paths:  # the index knows a file this snapshot does not: ask
                rels = catalog.file_paths([f for _, f in pairs])
                paths = [os.path.join(self.root, r) for r in rels]
            skip_path = os.path.join(self.root, skip) if skip else None
            matches: list[Match] = []
            kept: list[int] = []
            for (score, fid), path in zip(pairs, paths, strict=True):
                if path == skip_path:
                    continue
                matches.append(Match(len(matches) + 1, path, float(score), self.index.metric))
                kept.append(fid)
                if len(matches) == k:
                    break
            out.append((matches, kept))
        return out


class SearchIndexes:
    """Loaded indexes by (vector set, metric), checked against the catalogue on each use."""

    def __init__(self, root: Path, db: Path, store: VectorStore) -> None:
        self.root, self.db, self.store = root, db, store
        self._loaded: dict[tuple[int, str], LoadedIndex] = {}

    def get(self, catalog: Catalog, vset: VectorSetRow, metric: str) -> LoadedIndex:
        """The set's index for ``metric``, loaded (and synced) again only if it changed."""
        stamp = (vset.updated_at, vset.count, catalog.index_config_key(vset.id))
        cached = self._loaded.get((vset.id, metric))
        if cached is not None and cached.stamp == stamp:
            return cached
        index, _ = SetIndex(catalog, self.store, self.db, vset, metric).open()
        ids, rels = catalog.set_paths(vset.id)
        root = str(self.root)
        paths = np.array([os.path.join(root, r) for r in rels], dtype=object)
        loaded = LoadedIndex(stamp, index, ids, paths, root)
        self._loaded[(vset.id, metric)] = loaded
        return loaded

    def clear(self) -> None:
        """Forget every loaded index (after an index run, or on close)."""
        self._loaded.clear()

    def update(
        self,
        catalog: Catalog,
        vset: VectorSetRow,
        kind: str | None,
        options: dict[str, Any] | None,
        progress: Callable[[Progress], None] | None = None,
    ) -> IndexStats:
        """Record the index choice, then bring the saved index up to date and measure it.

        A changed choice drops the saved indexes of every metric, so none is ever loaded
        with settings the user no longer asked for."""
        current = catalog.index_config(vset.id)
        if kind is not None or options:
            choice = (kind or (current[0] if current else "auto"), dict(options or {}))
            if current is None or (current[0], current[1]) != choice:
                for metric in METRICS:
                    SetIndex(catalog, self.store, self.db, vset, metric).drop_saved()
                catalog.set_index_config(vset.id, choice[0], choice[1], {})
        if progress:
            progress(Progress("index", 0, 1))
        setindex = SetIndex(catalog, self.store, self.db, vset, DEFAULT_METRIC)
        built, changed = setindex.open()
        before = built.params()
        stats = setindex.measure(built, tune=True)
        if changed or built.params() != before:  # exact ones too: one file beats
            setindex.save(built, setindex.generation)  # gathering every vector again
        cfg = catalog.index_config(vset.id)
        catalog.set_index_config(
            vset.id,
            cfg[0] if cfg else "auto",
            cfg[1] if cfg else {},
            {DEFAULT_METRIC: stats.to_dict()},
        )
        if progress:
            progress(Progress("index", 1, 1))
        return stats

    def recall(
        self,
        catalog: Catalog,
        vset: VectorSetRow,
        metric: str,
        query: NDArray[np.float32],
        found: list[int],
        k: int,
        skip: str | None,
    ) -> float:
        """Share of the exact top-k (the file ``skip`` left out) among the ids ``found``."""
        ids, vectors = self.store.load_set(catalog, vset.id, vset.dim)
        skip_row = catalog.file(skip) if skip else None
        skip_id = skip_row.id if skip_row else None
        top = ids[exact_top(vectors, query.reshape(1, -1), min(k + 1, len(ids)), metric)[0]]
        truth = [int(f) for f in top if f != skip_id][:k]
        return len(set(truth) & set(found)) / max(1, len(truth))
