"""Clusters against hand-sorted classes: lookalike's k-means at the true k beside
scikit-learn's ``KMeans(n_init=10)`` on the same vectors and the single FAISS run used
before, over several seeds; then the automatic choices.

Each folder must be indexed (``lookalike index DIR``) with classes as sub-folders. Prints
medians over seeds of ARI and NMI, and the largest cluster over the largest class.

    python benchmarks/cluster_quality.py data/fm2k data/mnist2k [--seeds 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from lookalike import Collection
from lookalike.grouping.clusters import cluster_labels
from lookalike.grouping.kmeans import kmeans_labels
from lookalike.index.base import normalize


def faiss_single(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    """The previous method: FAISS spherical k-means, one random start, 25 iterations."""
    km = faiss.Kmeans(
        x.shape[1], k, niter=25, seed=seed, spherical=True, verbose=False, min_points_per_centroid=1
    )
    km.train(x)
    return km.index.search(x, 1)[1][:, 0]


def load(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    with Collection.open(folder) as col:
        table = col.vectors()
    names = np.array([p.split("/", 1)[0] for p in table.paths])
    return normalize(table.vectors), np.unique(names, return_inverse=True)[1]


def report(folder: Path, seeds: int) -> None:
    """Every method on one labelled folder."""
    x, truth = load(folder)
    k = int(truth.max()) + 1
    biggest = np.bincount(truth).max()
    print(f"\n{folder}: {len(x):,} images, {k} classes")
    methods: dict[str, Callable[[int], np.ndarray]] = {
        "lookalike kmeans": lambda s: kmeans_labels(x, k, s),
        "scikit-learn KMeans(n_init=10)": lambda s: KMeans(
            k, n_init=10, random_state=s
        ).fit_predict(x),
        "before: FAISS, 1 run": lambda s: faiss_single(x, k, s),
    }
    for name, run in methods.items():
        ari, nmi, big, secs = [], [], [], []
        for seed in range(seeds):
            t = time.perf_counter()
            labels = run(seed)
            secs.append(time.perf_counter() - t)
            ari.append(adjusted_rand_score(truth, labels))
            nmi.append(normalized_mutual_info_score(truth, labels))
            big.append(np.bincount(labels).max() / biggest)
        print(
            f"  {name:<32} k = {k:<4} ARI {np.median(ari):.3f}  NMI {np.median(nmi):.3f}  "
            f"largest/class {np.median(big):.2f}  {np.median(secs):.1f} s"
        )
    for algo in ("kmeans", "graph", "hdbscan"):
        nmis, aris, found = [], [], []
        for seed in range(seeds):
            labels, _, _ = cluster_labels(x, algo=algo, seed=seed)
            found.append(len(set(labels.tolist()) - {-1}))
            aris.append(adjusted_rand_score(truth, labels))
            nmis.append(normalized_mutual_info_score(truth, labels))
        print(
            f"  automatic {algo:<22} k = {sorted(found)}  ARI {np.median(aris):.3f}  "
            f"NMI {np.median(nmis):.3f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    for folder in args.folders:
        report(folder, args.seeds)


if __name__ == "__main__":
    main()
