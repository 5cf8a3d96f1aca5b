"""Groups from a k-nearest-neighbour graph: edges above a similarity threshold, joined by
connected components, then split by complete linkage so no chain of look-alikes merges
two images that are themselves far apart. Memory grows with n * k, never n * n."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from lookalike.results import KnnGraph

#: Components up to this size are checked pairwise (complete linkage); larger ones, which
#: only a very loose threshold makes, are kept as found.
MAX_REFINE = 2000

Pair = tuple[int, int]


def pair(a: int, b: int) -> Pair:
    """An unordered pair of file ids."""
    return (a, b) if a < b else (b, a)


def link(
    graph: KnnGraph,
    threshold: float,
    *,
    nodes: NDArray[np.int64] | None = None,
    blocked: set[Pair] = frozenset(),  # type: ignore[assignment]
    vectors: Callable[[list[int]], NDArray[np.float32]] | None = None,
) -> list[list[int]]:
    """Groups (lists of file ids, two or more each) whose members are at least
    ``threshold`` cosine-similar to each other. ``nodes`` limits the graph to some ids;
    ``blocked`` pairs (user decisions) never join; ``vectors`` enables the complete-linkage
    split of chained components."""
    ids = graph.ids
    n = len(ids)
    order = np.argsort(ids, kind="stable")
    allowed = np.ones(n, bool) if nodes is None else np.isin(ids, nodes)
    nb, sm = graph.neighbours, graph.similarities
    ii, kk = np.nonzero((nb >= 0) & (sm >= threshold) & allowed[:, None])
    target = nb[ii, kk]
    at = np.searchsorted(ids, target, sorter=order).clip(max=max(n - 1, 0))
    jj = order[at] if n else at
    ok = (ids[jj] == target) & allowed[jj]
    ii, jj = ii[ok], jj[ok]
    if blocked:
        a_id, b_id = ids[ii], ids[jj]
        keys = np.minimum(a_id, b_id) * (1 << 32) + np.maximum(a_id, b_id)
        block_keys = np.fromiter((x * (1 << 32) + y for x, y in blocked), np.int64, len(blocked))
        keep = ~np.isin(keys, block_keys)
        ii, jj = ii[keep], jj[keep]
    adj = coo_matrix((np.ones(len(ii), np.int8), (ii, jj)), shape=(n, n))
    count, labels = connected_components(adj, directed=False)
    sizes = np.bincount(labels, minlength=count)
    groups: list[list[int]] = []
    for label in np.flatnonzero(sizes >= 2):
        members = [int(ids[i]) for i in np.flatnonzero(labels == label)]
        groups.extend(_refine(members, threshold, blocked, vectors))
    return sorted(groups, key=lambda g: (-len(g), g[0]))


def _refine(
    members: list[int],
    threshold: float,
    blocked: set[Pair],
    vectors: Callable[[list[int]], NDArray[np.float32]] | None,
) -> list[list[int]]:
    if vectors is None or len(members) < 3 or len(members) > MAX_REFINE:
        return [members]
    v = vectors(members)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    sim = v @ v.T
    for a in range(len(members)):
        for b in range(a + 1, len(members)):
            if pair(members[a], members[b]) in blocked:
                sim[a, b] = sim[b, a] = -1.0
    if sim.min() >= threshold:
        return [members]
    dist = np.clip(1.0 - sim, 0.0, 2.0)
    condensed = dist[np.triu_indices(len(members), k=1)]
    labels = fcluster(
        linkage(condensed, method="complete"), t=1.0 - threshold, criterion="distance"
    )
    out = []
    for label in np.unique(labels):
        group = [members[i] for i in np.flatnonzero(labels == label)]
        if len(group) >= 2:
            out.append(group)
    return out
