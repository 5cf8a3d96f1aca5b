"""What pixel verification costs: ``find_duplicates`` on an indexed folder with and without
the verifier, side by side in one run, the kNN graph computed once and shared.

    python benchmarks/verify_cost.py DIR [--runs 3] [--workers 2] [--index] [--candidates 10]
                                         [--threads]

Prints medians of each, their ratio, and how many candidate pairs were verified. With
``--candidates K`` it also times a verified run with each picture's K nearest neighbours
as candidates (the shipped number is ``CANDIDATES``), side by side. With
``--index`` it also times a fresh index of the folder (into a temporary catalogue), and
the ratio of the whole first run a user makes, ``lookalike group DIR`` on a new folder:
index, kNN graph and grouping, with and without the verifier. The verified runs measure
every pair afresh (``reuse=False``); a later run of the same collection, which judges the
pixel measures its first run kept, is timed after them. With ``--threads`` it also
times a verified run that measures in threads only (as runs with fewer pairs than
``measure_pool.MIN_PAIRS`` do), side by side with the worker processes.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from lookalike import Collection
from lookalike.grouping import find_duplicates, knn_graph, measure_pool
from lookalike.grouping.duplicates import CANDIDATES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--index", action="store_true", help="also time a fresh index")
    ap.add_argument("--candidates", type=int, default=None, help="also verify K nearest")
    ap.add_argument("--threads", action="store_true", help="also measure in threads only")
    args = ap.parse_args()
    index_s = None
    if args.index:
        with tempfile.TemporaryDirectory() as db, Collection.open(args.folder, db=db) as col:
            t = time.perf_counter()
            col.index()
            index_s = time.perf_counter() - t
    with Collection.open(args.folder) as col:
        col.index()
        t = time.perf_counter()
        graph = knn_graph(col, max(10, args.candidates or 0))
        knn_s = time.perf_counter() - t
        plain, verified, other, threads = [], [], [], []
        report = None
        for _ in range(args.runs):  # alternate, so all see the same machine state
            t = time.perf_counter()
            find_duplicates(col, graph=graph, verify=False)
            plain.append(time.perf_counter() - t)
            t = time.perf_counter()
            report = find_duplicates(col, graph=graph, workers=args.workers, reuse=False)
            verified.append(time.perf_counter() - t)
            if args.candidates is not None:
                t = time.perf_counter()
                find_duplicates(
                    col, graph=graph, workers=args.workers, candidates=args.candidates, reuse=False
                )
                other.append(time.perf_counter() - t)
            if args.threads:
                least, measure_pool.MIN_PAIRS = measure_pool.MIN_PAIRS, 1 << 62
                t = time.perf_counter()
                find_duplicates(col, graph=graph, workers=args.workers, reuse=False)
                threads.append(time.perf_counter() - t)
                measure_pool.MIN_PAIRS = least
        later = []
        for _ in range(args.runs):
            t = time.perf_counter()
            warm = find_duplicates(col, graph=graph, workers=args.workers)
            later.append(time.perf_counter() - t)
    assert report is not None
    pairs = sum(len(g.verdicts) for g in report.groups)
    p, v = statistics.median(plain), statistics.median(verified)
    print(f"{report.images:,} images; kNN graph (k=10) {knn_s:.1f} s, shared")
    print(f"grouping, cosine only:       {p:7.2f} s (median of {args.runs})")
    print(f"grouping, pixels verified:   {v:7.2f} s ({pairs:,} verdicts kept in groups)")
    print(f"ratio verified / cosine-only: {v / p:.2f}x; with the kNN graph: "
          f"{(v + knn_s) / (p + knn_s):.2f}x")  # fmt: skip
    w = statistics.median(later)
    print(f"a later run, measures kept:  {w:7.2f} s ({warm.measured:,} pairs measured, "
          f"{warm.reused:,} judged on kept measures): {w / p:.2f}x cosine-only")  # fmt: skip
    if other:
        o = statistics.median(other)
        print(f"verified, {args.candidates} nearest as candidates: {o:7.2f} s "
              f"({o / v:.2f}x the shipped {CANDIDATES})")  # fmt: skip
    if threads:
        th = statistics.median(threads)
        print(f"verified, measured in threads only: {th:7.2f} s (worker processes "
              f"{th / v:.2f}x quicker)")  # fmt: skip
    if index_s is not None:
        first = (index_s + knn_s + v) / (index_s + knn_s + p)
        print(f"fresh index: {index_s:.1f} s; the first `lookalike group` on a new folder, "
              f"verified / cosine-only: {first:.2f}x")  # fmt: skip
        print(f"a later `lookalike group` (folder indexed, measures kept), verified / "
              f"cosine-only: {(knn_s + w) / (knn_s + p):.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
