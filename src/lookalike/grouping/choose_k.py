"""The automatic k: the k-means partition that best fits the collection's neighbour graph.

Each image is linked to its ``GRAPH_NEIGHBOURS`` nearest others; a good partition keeps
most links inside clusters, more than chance would (Newman's modularity). k-means runs
for a geometric range of k, then for every k between the best one's neighbours, and the
k whose partition has the highest modularity wins. The silhouette, the criterion used
before, picked k = 2 or 3 on every labelled set of ten classes: in a high-dimensional
CNN space it favours the coarsest split. Modularity picked 11 and 12 (see
docs/results.md). Large collections are judged on a sample.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import faiss
import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from lookalike.grouping.kmeans import reduce, sklearn_kmeans
from lookalike.index.base import normalize
from lookalike.results import Progress

#: Neighbours per image in the graph that partitions are scored on.
GRAPH_NEIGHBOURS = 10
#: The choice is made on at most this many vectors.
CHOICE_SAMPLE = 10_000
#: Largest k tried: twice the square root of the sample, capped here.
MAX_K = 300
#: Points of the first, geometric, range of k.
COARSE_STEPS = 16
#: At most this many more k tried between the best coarse k's neighbours.
FINE_STEPS = 8


@dataclass(frozen=True)
class KChoice:
    """The chosen k, every k tried with its modularity (best first), and on how many
    vectors the choice was made."""

    k: int
    scores: list[tuple[int, float]]
    sample: int

    @property
    def criterion(self) -> str:
        """The rule in words, for the output."""
        on = f" (on a sample of {self.sample:,})" if self.sample else ""
        return (
            f"automatic: k = {self.k}, the k-means partition with the highest modularity "
            f"of the {GRAPH_NEIGHBOURS}-nearest-neighbour graph{on}"
        )

    def runners_up(self, n: int = 4) -> list[tuple[int, float]]:
        """The next best k, for a user who wants another."""
        return self.scores[1 : n + 1]


def neighbour_graph(x: NDArray[np.float32], k: int = GRAPH_NEIGHBOURS) -> sparse.csr_matrix:
    """The symmetric, unweighted k-nearest-neighbour graph of unit rows (cosine)."""
    n = len(x)
    k = min(k, n - 1)
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(np.ascontiguousarray(x, dtype=np.float32))
    _, nearest = index.search(np.ascontiguousarray(x, dtype=np.float32), k + 1)
    rows = np.repeat(np.arange(n), k + 1)
    cols = nearest.ravel()
    keep = (cols >= 0) & (cols != rows)
    a = sparse.csr_matrix((np.ones(int(keep.sum())), (rows[keep], cols[keep])), shape=(n, n))
    return a.maximum(a.T).tocsr()


def modularity(graph: sparse.csr_matrix, labels: NDArray[np.int64]) -> float:
    """Newman's modularity of a partition: the share of links inside clusters minus the
    share expected by chance for the same degrees."""
    total = graph.sum()
    if total == 0:
        return 0.0
    coo = graph.tocoo()
    inside = coo.data[labels[coo.row] == labels[coo.col]].sum() / total
    degree = np.asarray(graph.sum(axis=1)).ravel()
    per_cluster = np.bincount(labels, weights=degree) / total
    return float(inside - (per_cluster**2).sum())


def candidate_ks(n: int) -> list[int]:
    """A geometric range of k from 2 to about twice the square root of n."""
    top = max(2, min(MAX_K, int(2 * np.sqrt(n)), n - 1))
    return sorted({round(float(v)) for v in np.geomspace(2, top, COARSE_STEPS)})


def choose_k(
    x: NDArray[np.float32],
    seed: int = 0,
    progress: Callable[[Progress], None] | None = None,
) -> KChoice:
    """The k whose k-means partition has the highest neighbour-graph modularity."""
    n = len(x)
    if n < 4:
        return KChoice(1, [(1, 0.0)], 0)
    rng = np.random.default_rng(seed)
    sampled = n > CHOICE_SAMPLE
    rows = np.sort(rng.choice(n, CHOICE_SAMPLE, replace=False)) if sampled else np.arange(n)
    sample = normalize(np.ascontiguousarray(x[rows], dtype=np.float32))
    graph = neighbour_graph(sample)
    reduced = reduce(sample, seed=seed)
    scores: dict[int, float] = {}

    def score(ks: list[int], done: int, total: int) -> None:
        for i, k in enumerate(ks):
            if k not in scores:
                labels = sklearn_kmeans(reduced, k, seed, restarts=3)
                scores[k] = modularity(graph, labels)
            if progress:
                progress(Progress("choosing k", done + i + 1, total))

    coarse = candidate_ks(len(sample))
    score(coarse, 0, len(coarse) + FINE_STEPS)
    best = max(scores, key=lambda k: scores[k])
    at = coarse.index(best)
    low, high = coarse[max(0, at - 1)], coarse[min(len(coarse) - 1, at + 1)]
    fine = sorted({round(float(v)) for v in np.linspace(low, high, FINE_STEPS + 2)} - set(scores))
    score(fine[:FINE_STEPS], len(coarse), len(coarse) + min(FINE_STEPS, len(fine)))
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    return KChoice(
        ranked[0][0], [(k, round(s, 4)) for k, s in ranked], len(sample) if sampled else 0
    )
