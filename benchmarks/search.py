"""Search at scale: every index backend on a Gaussian-mixture set, plus lookalike's own
search path against the raw FAISS call on the same index.

Data: N vectors of D dimensions from a mixture of 1,000 centres plus noise, L2-normalised,
and 1,000 held-out queries from the same mixture. For each backend and setting it prints
build time, memory, single-query p50/p99, batch QPS (all queries at once) and recall@10
against exact search. Then it saves the default index into a collection database and
times ``Collection.search`` with a vector against the raw FAISS search on that index,
interleaved so both see the same machine noise.

    python benchmarks/search.py                    # 1,000,000 x 256
    python benchmarks/search.py --n 200000 --dim 1280
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from lookalike import Collection
from lookalike.index import create_index, load_index
from lookalike.index.auto import choose_kind
from lookalike.index.base import faiss_threads

try:
    from benchmarks.synthetic import synthetic_collection
except ImportError:  # run as a script
    from synthetic import synthetic_collection  # type: ignore[no-redef]

K = 10
#: Per-dimension noise around unit-variance centres: clusters overlap, as real ones do.
NOISE = 1.5
SETTINGS: list[tuple[str, dict[str, Any], list[dict[str, Any]]]] = [
    ("exact", {}, [{}]),
    (
        "hnsw",
        {"M": 32},
        [{"ef_search": 32}, {"ef_search": 64}, {"ef_search": 128}, {"ef_search": 256}],
    ),
    ("ivf", {"nlist": 4096}, [{"nprobe": 8}, {"nprobe": 16}, {"nprobe": 64}]),
    (
        "ivfpq",
        {"nlist": 4096, "m": 32},
        [{"nprobe": 32, "rerank": 10}, {"nprobe": 32, "rerank": 50}],
    ),
    (
        "ivfpq",
        {"nlist": 4096, "m": 64},
        [{"nprobe": 32, "rerank": 10}, {"nprobe": 32, "rerank": 30}],
    ),
    ("lsh", {"nbits": 512}, [{"rerank": 50}]),
]


def mixture(n: int, dim: int, centres: int, seed: int) -> np.ndarray:
    """Unit vectors from a Gaussian mixture (centres shared across calls via the seed 0)."""
    c = np.random.default_rng(0).normal(size=(centres, dim)).astype(np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), np.float32)
    for s in range(0, n, 100_000):
        m = min(100_000, n - s)
        out[s : s + m] = c[rng.integers(0, centres, m)] + NOISE * rng.normal(size=(m, dim))
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def timed_queries(index: Any, queries: np.ndarray) -> tuple[list[float], np.ndarray]:
    times, found = [], []
    for q in queries:
        t = time.perf_counter()
        found.append(index.search(q[None], K).ids[0])
        times.append(time.perf_counter() - t)
    return times, np.vstack(found)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / K for a, b in zip(found, truth, strict=True)]))


def ms(x: float) -> str:
    return f"{x * 1e3:.2f}"


def bandwidth_bound(x: np.ndarray) -> float:
    """Seconds for one BLAS matrix-vector product over the data: the memory-bound floor."""
    v = np.ones(x.shape[1], np.float32)
    x @ v
    return statistics.median(_time(lambda: x @ v) for _ in range(5))


def _time(fn: Any) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--centres", type=int, default=1000)
    ap.add_argument("--kinds", default="exact,hnsw,ivf,ivfpq,lsh")
    args = ap.parse_args()

    t = time.perf_counter()
    x = mixture(args.n, args.dim, args.centres, seed=1)
    q = mixture(args.queries, args.dim, args.centres, seed=2)
    ids = np.arange(args.n, dtype=np.int64)
    print(
        f"data: {args.n:,} x {args.dim} ({x.nbytes / 2**30:.2f} GiB), {args.queries} queries, "
        f"made in {time.perf_counter() - t:.0f} s"
    )
    floor = bandwidth_bound(x)
    print(
        f"memory-bandwidth floor (one sgemv over the data): {ms(floor)} ms "
        f"({x.nbytes / floor / 1e9:.1f} GB/s)"
    )

    exact = create_index("exact", args.dim, "cosine")
    exact.add(ids, x)
    truth = exact.search(q, K).ids
    print()
    print(
        f"{'index':<8}{'setting':<28}{'build s':>8}{'memory MB':>10}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'batch QPS':>10}{'recall@10':>10}"
    )
    tmp = Path(tempfile.mkdtemp(prefix="lookalike-search-bench-"))
    try:
        for kind, build_opts, query_opts in SETTINGS:
            if kind not in args.kinds.split(","):
                continue
            t = time.perf_counter()
            index = (
                create_index(kind, args.dim, "cosine", **build_opts) if kind != "exact" else exact
            )
            if kind != "exact":
                index.add(ids, x)
            build = time.perf_counter() - t
            if kind in ("ivfpq", "lsh"):  # re-rank vectors stay memory-mapped on disk
                index = load_index(index.save(tmp / f"{kind}-{len(list(tmp.iterdir()))}"))
            mem = index.memory_bytes / 1e6
            for opts in query_opts:
                for key, value in opts.items():
                    setattr(index, key, value)
                times, found = timed_queries(index, q)
                t = time.perf_counter()
                index.search(q, K)
                qps = len(q) / (time.perf_counter() - t)
                setting = ", ".join(f"{k}={v}" for k, v in {**build_opts, **opts}.items()) or "-"
                print(
                    f"{kind:<8}{setting:<28}{build:>8.1f}{mem:>10.0f}"
                    f"{ms(statistics.median(times)):>8}{ms(float(np.percentile(times, 99))):>8}"
                    f"{qps:>10.0f}{recall(found, truth):>10.3f}",
                    flush=True,
                )
            if kind != "exact":
                del index
        print(f"\nexact p50 / memory-bandwidth floor: see the exact row against {ms(floor)} ms")
        overhead(tmp / "collection", x, q, args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def overhead(root: Path, x: np.ndarray, q: np.ndarray, args: argparse.Namespace) -> None:
    """Collection.search(vector) against the raw FAISS search on the same saved index."""
    root.mkdir(parents=True, exist_ok=True)
    kind = choose_kind(len(x), args.dim)
    build = synthetic_collection(root, x, index="auto")
    print(f"\ndefault index for {len(x):,} x {args.dim}: {kind}, built and saved in {build:.0f} s")

    col = Collection.open(root)
    col.search(q[0], k=K)  # loads the saved index
    raw = col.index_for(col.vectors_set(), "cosine").index
    faiss_index = raw._index
    params = raw._search_params()
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    ours, theirs = [], []

    def run_ours(i: int) -> None:
        t = time.perf_counter()
        col.search(q[i], k=K)
        ours.append(time.perf_counter() - t)

    def run_raw(i: int) -> None:
        t = time.perf_counter()
        with faiss_threads(1):
            if params is None:
                faiss_index.search(qn[i : i + 1], K)
            else:
                faiss_index.search(qn[i : i + 1], K, params=params)
        theirs.append(time.perf_counter() - t)

    # The same query twice in a row runs faster the second time (the graph nodes it visits
    # are in cache), so which one goes first alternates.
    for i in range(len(q)):
        first, second = (run_ours, run_raw) if i % 2 else (run_raw, run_ours)
        first(i)
        second(i)
    a, b = statistics.median(ours), statistics.median(theirs)
    print(
        f"Collection.search p50 {ms(a)} ms, raw FAISS p50 {ms(b)} ms on the same {kind} index: "
        f"lookalike adds {100 * (a / b - 1):.0f}%"
    )
    col.close()


if __name__ == "__main__":
    main()
