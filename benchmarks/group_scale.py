"""Grouping at scale: ``find_duplicates`` over a large synthetic collection.

Builds a catalogue of N fake files whose vectors come in near-duplicate groups of 4 (plus
noise) among singles, then times the k-nearest-neighbour graph (through the collection's
own search index) and the grouping, and reports peak memory (resident set) and how many
of the planted groups were found.

    python benchmarks/group_scale.py [--n 1000000] [--dim 256]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from lookalike import Collection
from lookalike.grouping import find_duplicates, knn_graph

try:
    from benchmarks.synthetic import synthetic_collection
except ImportError:  # run as a script
    from synthetic import synthetic_collection  # type: ignore[no-redef]


def build(root: Path, n: int, dim: int) -> int:
    """Planted groups of 4 near-duplicates for the first half, singles after."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, dim)).astype(np.float32)
    half = (n // 2) // 4 * 4
    base = x[0:half:4].copy()
    for j in range(4):
        x[j:half:4] = base + 0.15 * rng.normal(size=base.shape).astype(np.float32)
    seconds = synthetic_collection(root, x, index="auto", sizes=[1000 + i % 7 for i in range(n)])
    print(f"search index built in {seconds:.0f} s")
    return half // 4


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=256)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="lookalike-group-bench-"))
    try:
        t = time.perf_counter()
        planted = build(root, args.n, args.dim)
        print(f"collection of {args.n:,} x {args.dim} ready in {time.perf_counter() - t:.0f} s")
        with Collection.open(root) as col:
            t = time.perf_counter()
            graph = knn_graph(col, 10)
            knn_s = time.perf_counter() - t
            t = time.perf_counter()
            report = find_duplicates(
                col, threshold=0.9, similar_threshold=0.9, graph=graph, verify=False
            )  # synthetic vectors: no pictures to verify
            group_s = time.perf_counter() - t
        near = report.tier("near")
        exact_groups = sum(
            1
            for g in near
            if len(g.members) == 4 and len({int(m.path.stem[4:]) // 4 for m in g.members}) == 1
        )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print(
            f"kNN graph (k=10): {knn_s:.0f} s; grouping: {group_s:.0f} s; "
            f"total {knn_s + group_s:.0f} s"
        )
        print(
            f"near-duplicate groups: {len(near):,} found, {exact_groups:,} of {planted:,} "
            f"planted groups recovered exactly; peak RSS {peak:.2f} GiB "
            f"(an all-pairs float32 matrix would need {args.n**2 * 4 / 2**30:,.0f} GiB)"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
