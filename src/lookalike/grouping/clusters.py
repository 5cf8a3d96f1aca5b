"""Content clusters: k-means (the origin report's choice) with an automatic k, or HDBSCAN
density clusters with an outlier group. Each cluster is represented by its medoid."""

from __future__ import annotations

import faiss
import numpy as np
from numpy.typing import NDArray

from lookalike.collection import Collection
from lookalike.errors import InvalidOptionError
from lookalike.grouping.reports import Cluster, ClusterReport
from lookalike.index.base import normalize

#: Automatic k: the candidate with the best silhouette (cosine) on a sample of this size.
SILHOUETTE_SAMPLE = 5000
#: Clusters up to this size get their exact medoid; larger ones the member nearest the mean.
EXACT_MEDOID = 2000


def kmeans_labels(x: NDArray[np.float32], k: int, seed: int = 0) -> NDArray[np.int64]:
    """Spherical k-means with FAISS (fast at millions of points)."""
    km = faiss.Kmeans(x.shape[1], k, niter=25, seed=seed, spherical=True, verbose=False)
    km.train(x)
    _, labels = km.index.search(x, 1)
    return labels[:, 0].astype(np.int64)


def _silhouette(x: NDArray[np.float32], labels: NDArray[np.int64], seed: int) -> float:
    from sklearn.metrics import silhouette_score

    if len(np.unique(labels)) < 2:
        return -1.0
    size = min(len(x), SILHOUETTE_SAMPLE)
    return float(silhouette_score(x, labels, metric="cosine", sample_size=size, random_state=seed))


def auto_k(x: NDArray[np.float32], seed: int = 0) -> tuple[int, float]:
    """The k among ~2..sqrt(n) (geometric steps) with the highest silhouette."""
    n = len(x)
    top = max(2, min(200, int(np.sqrt(n))))
    candidates = sorted({round(float(v)) for v in np.geomspace(2, top, num=min(12, top - 1))})
    best = (2, -2.0)
    for k in candidates:
        if k >= n:
            break
        score = _silhouette(x, kmeans_labels(x, k, seed), seed)
        if score > best[1]:
            best = (k, score)
    return best


def medoid(x: NDArray[np.float32]) -> int:
    """Row of the member most similar on average to the others (unit vectors)."""
    if len(x) > EXACT_MEDOID:
        return int(np.argmax(x @ normalize(x.mean(axis=0, keepdims=True))[0]))
    return int(np.argmax((x @ x.T).sum(axis=1)))


def find_clusters(
    col: Collection,
    *,
    k: int | None = None,
    algo: str = "kmeans",
    min_cluster_size: int = 5,
    model: str | None = None,
    pooling: str | None = None,
    seed: int = 0,
) -> ClusterReport:
    """Cluster a collection's vectors by content."""
    table = col.vectors(model=model, pooling=pooling)
    x = normalize(table.vectors)
    score = None
    if algo == "kmeans":
        if k is None:
            k, score = auto_k(x, seed)
            criterion = f"automatic: best silhouette (cosine) over k = 2..sqrt(n), k={k}"
        else:
            criterion = f"k={k} given"
        k = max(1, min(int(k), len(x)))
        labels = kmeans_labels(x, k, seed)
    elif algo == "hdbscan":
        from sklearn.cluster import HDBSCAN
        from sklearn.decomposition import PCA

        reduced = x
        if x.shape[1] > 50 and len(x) > 50:
            reduced = PCA(n_components=50, random_state=seed).fit_transform(x)
        labels = (
            HDBSCAN(min_cluster_size=min_cluster_size, copy=True)
            .fit_predict(reduced)
            .astype(np.int64)
        )
        k = len(set(labels.tolist()) - {-1})
        criterion = f"HDBSCAN density clusters (min_cluster_size={min_cluster_size}); -1 = outliers"
    else:
        raise InvalidOptionError(f"algo must be kmeans or hdbscan, not {algo!r}")
    if score is None and len(np.unique(labels)) > 1:
        score = _silhouette(x, labels, seed)
    clusters = []
    for label in sorted(set(labels.tolist()), key=lambda lb: (lb == -1, lb)):
        rows = np.flatnonzero(labels == label)
        members = [col.root / table.paths[i] for i in rows]
        centre = rows[medoid(x[rows])]
        clusters.append(Cluster(int(label), members, col.root / table.paths[centre]))
    clusters.sort(key=lambda c: (c.label == -1, -len(c.members)))
    return ClusterReport(col.root, table.vector_set, algo, int(k), criterion, clusters, score)
