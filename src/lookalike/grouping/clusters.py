"""Content clusters of a collection, three ways, each chosen by measurement (docs/results.md):

- ``kmeans`` (the origin report's choice): k given, or chosen by the modularity of the
  neighbour graph (``choose_k``);
- ``graph``: communities of the neighbour graph (Louvain, through NetworkX), which find
  their own number of groups;
- ``hdbscan``: density clusters on a 20-dimensional projection, with an outlier group.

``auto`` (the default) is k-means when k is given; otherwise the graph communities, which
matched hand-sorted classes best on the tuning sets, up to ``GRAPH_MAX`` vectors, and
k-means with the automatic k above that (Louvain in NetworkX slows down past it). Each
cluster is represented by its medoid and numbered by size, largest first.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from lookalike.collection import Collection
from lookalike.errors import InvalidOptionError
from lookalike.grouping.choose_k import KChoice, choose_k, neighbour_graph
from lookalike.grouping.kmeans import by_size, kmeans_labels, reduce
from lookalike.grouping.reports import Cluster, ClusterReport
from lookalike.index.base import normalize
from lookalike.results import Progress

ALGOS = ("auto", "kmeans", "graph", "hdbscan")
#: Below this many images per cluster, k-means says its result may vary.
FEW_PER_CLUSTER = 5
#: ``auto`` uses the graph communities up to this many vectors.
GRAPH_MAX = 200_000
#: Silhouette (cosine, shown for information) on a sample of this size.
SILHOUETTE_SAMPLE = 5000
#: Clusters up to this size get their exact medoid; larger ones the member nearest the mean.
EXACT_MEDOID = 2000
#: HDBSCAN runs on this many principal dimensions (measured: 20 beat 5, 10 and 50).
HDBSCAN_DIMS = 20


def hdbscan_min_size(n: int) -> int:
    """HDBSCAN's smallest cluster by default: 0.5% of the collection, at least 5."""
    return max(5, n // 200)


def hdbscan_labels(
    x: NDArray[np.float32], min_cluster_size: int | None = None, seed: int = 0
) -> NDArray[np.int64]:
    """HDBSCAN density clusters (``-1`` = outliers) on a low-dimensional projection,
    ``min_samples=1`` so that only points far from every group are outliers."""
    from sklearn.cluster import HDBSCAN

    size = min_cluster_size or hdbscan_min_size(len(x))
    reduced = reduce(x, HDBSCAN_DIMS, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        labels = HDBSCAN(min_cluster_size=max(2, size), min_samples=1, copy=True).fit_predict(
            reduced
        )
    return by_size(labels.astype(np.int64))


def graph_labels(x: NDArray[np.float32], seed: int = 0) -> NDArray[np.int64]:
    """Louvain communities of the neighbour graph (modularity, resolution 1)."""
    import networkx as nx

    graph = nx.from_scipy_sparse_array(neighbour_graph(normalize(x)))
    labels = np.full(len(x), -1, np.int64)
    for i, members in enumerate(nx.community.louvain_communities(graph, seed=seed)):
        labels[list(members)] = i
    return by_size(labels)


def _silhouette(x: NDArray[np.float32], labels: NDArray[np.int64], seed: int) -> float | None:
    from sklearn.metrics import silhouette_score

    kept = labels >= 0
    if len(np.unique(labels[kept])) < 2 or len(np.unique(labels[kept])) >= kept.sum():
        return None
    size = min(int(kept.sum()), SILHOUETTE_SAMPLE)
    return float(
        silhouette_score(
            x[kept], labels[kept], metric="cosine", sample_size=size, random_state=seed
        )
    )


def medoid(x: NDArray[np.float32]) -> int:
    """Row of the member most similar on average to the others (unit vectors)."""
    if len(x) > EXACT_MEDOID:
        return int(np.argmax(x @ normalize(x.mean(axis=0, keepdims=True))[0]))
    return int(np.argmax((x @ x.T).sum(axis=1)))


def resolve_algo(algo: str, k: int | None, n: int) -> str:
    """The algorithm ``auto`` stands for, given k and the collection's size (a typed
    error for an unknown one)."""
    if algo not in ALGOS:
        raise InvalidOptionError(f"algo must be one of {', '.join(ALGOS)}, not {algo!r}")
    if algo != "auto":
        return algo
    if k is not None or n > GRAPH_MAX:
        return "kmeans"
    return "graph"


def cluster_labels(
    x: NDArray[np.float32],
    *,
    algo: str = "auto",
    k: int | None = None,
    min_cluster_size: int | None = None,
    seed: int = 0,
    progress: Callable[[Progress], None] | None = None,
) -> tuple[NDArray[np.int64], str, KChoice | None]:
    """Cluster labels of unit rows, the rule in words, and how k was chosen (automatic
    k-means only). The core of ``find_clusters``, usable on any vectors."""
    algo = resolve_algo(algo, k, len(x))
    if k is not None and algo != "kmeans":
        raise InvalidOptionError(f"--k applies to kmeans; {algo} finds its own number")
    if k is not None and k < 1:
        raise InvalidOptionError(f"k must be at least 1, not {k}")
    choice = None
    if algo == "kmeans":
        if k is None:
            choice = choose_k(x, seed, progress)
            k, criterion = choice.k, choice.criterion
        else:
            criterion = f"k = {min(k, len(x))} given"
        if len(x) < FEW_PER_CLUSTER * k:
            criterion += (
                f"; {len(x):,} images in {k} clusters is few per cluster: "
                "results may change with --seed"
            )
        labels = kmeans_labels(x, k, seed)
    elif algo == "graph":
        labels = graph_labels(x, seed)
        criterion = "Louvain communities of the 10-nearest-neighbour graph"
    else:
        size = min_cluster_size or hdbscan_min_size(len(x))
        labels = hdbscan_labels(x, size, seed)
        criterion = (
            f"HDBSCAN density clusters on {HDBSCAN_DIMS} principal dimensions "
            f"(smallest cluster {size}); -1 = outliers"
        )
    return labels, criterion, choice


def find_clusters(
    col: Collection,
    *,
    k: int | None = None,
    algo: str = "auto",
    min_cluster_size: int | None = None,
    model: str | None = None,
    pooling: str | None = None,
    seed: int = 0,
    progress: Callable[[Progress], None] | None = None,
) -> ClusterReport:
    """Cluster a collection's vectors by content (any vector set, trained ones included)."""
    table = col.vectors(model=model, pooling=pooling)
    x = normalize(table.vectors)
    algo = resolve_algo(algo, k, len(x))
    labels, criterion, choice = cluster_labels(
        x, algo=algo, k=k, min_cluster_size=min_cluster_size, seed=seed, progress=progress
    )
    clusters = []
    for label in sorted(set(labels.tolist()), key=lambda lb: (lb == -1, lb)):
        rows = np.flatnonzero(labels == label)
        members = [col.root / table.paths[i] for i in rows]
        centre = rows[medoid(x[rows])]
        clusters.append(Cluster(int(label), members, col.root / table.paths[centre]))
    clusters.sort(key=lambda c: (c.label == -1, -len(c.members)))
    found = len([c for c in clusters if c.label >= 0])
    return ClusterReport(
        col.root,
        table.vector_set,
        algo,
        found,
        criterion,
        clusters,
        _silhouette(x, labels, seed),
        choice.runners_up() if choice else [],
        choice.scores if choice else [],
    )
