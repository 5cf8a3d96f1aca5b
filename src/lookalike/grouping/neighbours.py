"""The k-nearest-neighbour graph of a collection, the input of duplicate grouping."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lookalike.collection import Collection
from lookalike.results import KnnGraph, Progress


def knn_graph(
    col: Collection,
    k: int = 10,
    *,
    model: str | None = None,
    pooling: str | None = None,
    batch: int = 4096,
    progress: Callable[[Progress], None] | None = None,
) -> KnnGraph:
    """Each stored vector's ``k`` nearest others by cosine similarity, through the set's
    search index, in batches: memory grows with n * k, never n * n."""
    with col.guard:
        vset = col.vectors_set(model=model, pooling=pooling)
        index = col.index_for(vset, "cosine").index
        table = col.vectors(key=vset.key)
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


def pair_cosine(ids: np.ndarray, vectors: np.ndarray) -> Callable[[int, int], float]:
    """The cosine of two of these vectors, by id: the vectors are normalised once."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    row = {int(i): k for k, i in enumerate(ids.tolist())}
    return lambda a, b: float(unit[row[a]] @ unit[row[b]])
