"""Groups from a k-nearest-neighbour graph: edges above a similarity threshold, joined by
connected components, then split by complete linkage so no chain of look-alikes merges
two images that are themselves far apart. A component too large for that (a loose
threshold over a collection of look-alike pictures chains thousands) is first cut into
parts along its stronger edges. Memory grows with n * k, and with the square of
:data:`MAX_REFINE` at most, never n * n."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from lookalike.results import KnnGraph

#: Components up to this size are checked pairwise (complete linkage); larger ones are
#: cut along their stronger edges into parts of at most this size first.
MAX_REFINE = 2000
#: How much the threshold rises at each cut of a large component.
CUT_STEP = 0.005

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
    target, w = nb[ii, kk], sm[ii, kk]
    at = np.searchsorted(ids, target, sorter=order).clip(max=max(n - 1, 0))
    jj = order[at] if n else at
    ok = (ids[jj] == target) & allowed[jj]
    ii, jj, w = ii[ok], jj[ok], w[ok]
    if blocked:
        a_id, b_id = ids[ii], ids[jj]
        keys = np.minimum(a_id, b_id) * (1 << 32) + np.maximum(a_id, b_id)
        block_keys = np.fromiter((x * (1 << 32) + y for x, y in blocked), np.int64, len(blocked))
        keep = ~np.isin(keys, block_keys)
        ii, jj, w = ii[keep], jj[keep], w[keep]
    groups: list[list[int]] = []
    for part in _parts(ii, jj, w, threshold, vectors is not None):
        members = [int(i) for i in ids[part]]
        groups.extend(_refine(members, threshold, blocked, vectors))
    return sorted(groups, key=lambda g: (-len(g), g[0]))


def components(ii: NDArray[np.integer], jj: NDArray[np.integer]) -> list[NDArray[np.integer]]:
    """The connected components (two or more nodes, each in increasing order) of the
    edges ``ii``-``jj``, gathered in one pass over their labels."""
    nodes = np.unique(np.concatenate([ii, jj]))
    if not len(nodes):
        return []
    m = len(nodes)
    a, b = np.searchsorted(nodes, ii), np.searchsorted(nodes, jj)
    adj = coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(m, m))
    count, labels = connected_components(adj, directed=False)
    sizes = np.bincount(labels, minlength=count)
    by_label = nodes[np.argsort(labels, kind="stable")]  # each component's nodes in a run
    ends = np.cumsum(sizes)
    return [by_label[ends[k] - sizes[k] : ends[k]] for k in np.flatnonzero(sizes >= 2)]


def _parts(
    ii: NDArray[np.intp],
    jj: NDArray[np.intp],
    sims: NDArray[np.float32],
    threshold: float,
    cut: bool,
) -> list[NDArray[np.intp]]:
    """The connected components of the edges ``ii``-``jj`` (node indices); with ``cut``,
    one larger than :data:`MAX_REFINE` is cut again among its own edges at a threshold
    :data:`CUT_STEP` higher, until every part fits (a node whose edges all fall below
    the risen threshold drops out: a link in a long chain of look-alikes)."""
    out: list[NDArray[np.intp]] = []
    for part in components(ii, jj):
        if not cut or len(part) <= MAX_REFINE or threshold >= 1.0:
            out.append(part)
            continue
        higher = np.isin(ii, part) & (sims >= threshold + CUT_STEP)
        out += _parts(ii[higher], jj[higher], sims[higher], threshold + CUT_STEP, cut)
    return out


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
    where = {m: k for k, m in enumerate(members)}
    for a, b in blocked:
        if a in where and b in where:
            sim[where[a], where[b]] = sim[where[b], where[a]] = -1.0
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
