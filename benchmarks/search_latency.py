"""Exact search latency through ``Collection.search`` over a large synthetic collection.

Builds a catalogue of N fake files with random unit vectors (no images needed), then
times: the first search (loading the vectors into the index), vector queries (p50/p99),
the same queries re-ranked (``rerank=True``: one stored vector read and a second search),
and the raw FAISS flat search on the same data for comparison, all interleaved.

    python benchmarks/search_latency.py [--n 100000] [--dim 1280] [--queries 200]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from lookalike import Collection

try:
    from benchmarks.synthetic import synthetic_collection
except ImportError:  # run as a script
    from synthetic import synthetic_collection  # type: ignore[no-redef]


def build(root: Path, n: int, dim: int, seed: int = 0) -> np.ndarray:
    """A collection database with ``n`` random vectors of ``dim``."""
    vectors = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    synthetic_collection(root, vectors)
    return vectors


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=1280)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=8)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="lookalike-search-bench-"))
    try:
        t = time.perf_counter()
        vectors = build(root, args.n, args.dim)
        print(f"built {args.n:,} x {args.dim} collection in {time.perf_counter() - t:.1f} s")
        rng = np.random.default_rng(1)
        queries = rng.normal(size=(args.queries, args.dim)).astype(np.float32)
        col = Collection.open(root)
        t = time.perf_counter()
        col.search(queries[0], k=args.k)
        print(f"first search (loads vectors, builds the index): {time.perf_counter() - t:.2f} s")

        raw = faiss.IndexFlatIP(args.dim)
        xn = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        raw.add(xn)
        qn = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        ours: list[float] = []
        reranked: list[float] = []
        theirs: dict[int, list[float]] = {1: [], 2: []}
        for i in range(args.queries):  # interleaved, so all see the same noise
            t = time.perf_counter()
            col.search(queries[i], k=args.k)
            ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            col.search(queries[i], k=args.k, rerank=True)
            reranked.append(time.perf_counter() - t)
            for threads, times in theirs.items():
                faiss.omp_set_num_threads(threads)
                t = time.perf_counter()
                raw.search(qn[i : i + 1], args.k)
                times.append(time.perf_counter() - t)
        p50 = statistics.median(ours)
        print(
            f"lookalike Collection.search: p50 {p50 * 1e3:.1f} ms, p99 {pct(ours, 99) * 1e3:.1f} ms"
        )
        r50 = statistics.median(reranked)
        print(
            f"... with --rerank: p50 {r50 * 1e3:.1f} ms, p99 {pct(reranked, 99) * 1e3:.1f} ms; "
            f"re-ranking adds {(r50 - p50) * 1e3:.1f} ms at the median"
        )
        for threads, times in theirs.items():
            raw50 = statistics.median(times)
            print(
                f"raw FAISS flat, {threads} OpenMP thread(s): p50 {raw50 * 1e3:.1f} ms, "
                f"p99 {pct(times, 99) * 1e3:.1f} ms; lookalike / raw = {p50 / raw50:.2f}"
            )
        col.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
