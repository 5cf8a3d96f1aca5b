"""What training a metric head costs, without the backbone pass: ``train_head`` on N
cached vectors (synthetic: ``--classes`` centres plus noise, 2,736 floats like the
backbone's ``layout`` pooling that heads learn from), with labels and without. Prints
the median of ``--runs`` runs.

    python benchmarks/metric_cost.py [--n 10000] [--classes 50] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from lookalike.training.metric import MetricConfig, train_head


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=2736)
    ap.add_argument("--classes", type=int, default=50)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    y = rng.integers(0, args.classes, args.n)
    x = rng.normal(size=(args.classes, args.dim))[y] + 2 * rng.normal(size=(args.n, args.dim))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    for name, labels in (("labels (supcon, 30 epochs)", y), ("no labels (whitening)", y * 0 - 1)):
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            train_head(x, labels, MetricConfig())
            times.append(time.perf_counter() - t)
        print(
            f"{args.n:,} vectors, {name}: median {statistics.median(times):.1f} s "
            f"(runs: {', '.join(f'{s:.1f}' for s in times)})"
        )


if __name__ == "__main__":
    main()
