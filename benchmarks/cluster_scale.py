"""Clusters at scale: k-means of N synthetic vectors, with k given and automatic.

Vectors come from ``--classes`` Gaussian centres of unequal weight (plus noise), unit
length, in ``--dim`` dimensions (1,584 = the default encoder's). Prints the time of each
stage, the agreement with the planted classes (ARI on a sample of rows), and the peak
resident memory, so memory can be read against n.

    python benchmarks/cluster_scale.py [--n 1000000] [--dim 1584] [--classes 200]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
from sklearn.metrics import adjusted_rand_score

from lookalike.grouping.choose_k import choose_k
from lookalike.grouping.kmeans import kmeans_labels


def peak_gib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def make(n: int, dim: int, classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around ``classes`` centres, written in chunks (memory: n * dim floats)."""
    rng = np.random.default_rng(seed)
    weights = rng.uniform(1, 6, classes)
    truth = rng.choice(classes, n, p=weights / weights.sum())
    centres = rng.normal(size=(classes, dim)).astype(np.float32)
    x = np.empty((n, dim), np.float32)
    for s in range(0, n, 50_000):
        part = centres[truth[s : s + 50_000]]
        part += 1.5 * rng.standard_normal(part.shape, dtype=np.float32)
        part /= np.linalg.norm(part, axis=1, keepdims=True)
        x[s : s + 50_000] = part
    return x, truth


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=1584)
    ap.add_argument("--classes", type=int, default=200)
    args = ap.parse_args()
    t = time.perf_counter()
    x, truth = make(args.n, args.dim, args.classes)
    print(
        f"{args.n:,} x {args.dim} vectors made in {time.perf_counter() - t:.0f} s "
        f"({x.nbytes / 2**30:.1f} GiB); peak memory {peak_gib():.1f} GiB",
        flush=True,
    )
    rows = np.random.default_rng(1).choice(args.n, min(args.n, 100_000), replace=False)

    t = time.perf_counter()
    labels = kmeans_labels(x, args.classes)
    print(
        f"k-means, k = {args.classes} given: {time.perf_counter() - t:.0f} s, "
        f"ARI {adjusted_rand_score(truth[rows], labels[rows]):.3f}; "
        f"peak memory {peak_gib():.1f} GiB",
        flush=True,
    )

    t = time.perf_counter()
    choice = choose_k(x)
    chose = time.perf_counter() - t
    labels = kmeans_labels(x, choice.k)
    print(
        f"automatic k: k = {choice.k} chosen in {chose:.0f} s on {choice.sample:,} vectors "
        f"(next: {choice.runners_up()}), k-means {time.perf_counter() - t - chose:.0f} s, "
        f"ARI {adjusted_rand_score(truth[rows], labels[rows]):.3f}; "
        f"peak memory {peak_gib():.1f} GiB",
        flush=True,
    )


if __name__ == "__main__":
    main()
