"""Scale-out: the Ray engine against the local one, and a real Milvus server.

Part 1 indexes the same photos (1024x768 JPEGs made from scikit-image's photos, cached)
with ``--engine local``, ``--engine ray`` on a local Ray, and ``--engine ray`` on a
two-node Ray cluster started on this machine (``ray.cluster_utils.Cluster``, one CPU per
node), each into a fresh catalogue, in rounds so the machine's noise hits all alike. It
prints each engine's images/s (wall time of the whole run, Ray's start included, and
the embedding stream alone), the ratio to the local engine, and the smallest cosine
between an image's local and Ray vectors.

Part 2 starts a Milvus standalone server (the ``milvus`` package), inserts N unit vectors
from a Gaussian mixture through lookalike's Milvus backend (HNSW, the default), flushes
as an index run does, waits 15 s for the server to load the indexed segments, and prints
insert rate, single-query latency and batched throughput at the default (Session)
consistency, and recall@10 against exact search; then deletes 10,000 ids, re-adds them
with new vectors and counts stale results in the deleting process's searches.

    python benchmarks/scale_out.py [--images 2000] [--rounds 3] [--vectors 100000]
        [--skip-ray] [--skip-milvus]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from lookalike import Collection

try:
    from benchmarks.photoset import photo_set
    from benchmarks.search import mixture
except ImportError:  # run as a script
    from photoset import photo_set  # type: ignore[no-redef]
    from search import mixture  # type: ignore[no-redef]


def index_once(root: Path, engine: str, address: str | None = None) -> tuple[float, float, dict]:
    """(wall seconds, embedding seconds, vectors by path) of a fresh index run."""
    with tempfile.TemporaryDirectory() as db:
        t = time.perf_counter()
        with Collection.open(root, db=Path(db)) as col:
            report = col.index(
                engine=engine, engine_options={"address": address} if address else None
            )
            seconds = time.perf_counter() - t
            table = col.vectors()
            vectors = {p: table.vectors[k] for k, p in enumerate(table.paths)}
        return seconds, report.embed_seconds, vectors


def engines(images: int, rounds: int) -> None:
    import ray
    from ray.cluster_utils import Cluster

    root = photo_set(images, (1024, 768))
    os.environ.setdefault("RAY_TMPDIR", tempfile.mkdtemp(prefix="ray-"))
    names = ("local", "ray (local Ray)", "ray (2-node cluster)")
    wall: dict[str, list[float]] = {n: [] for n in names}
    embed: dict[str, list[float]] = {n: [] for n in names}
    worst = {n: 1.0 for n in names[1:]}
    for r in range(rounds):
        base = None
        for name in names:
            cluster = None
            address = None
            if "cluster" in name:
                cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
                cluster.add_node(num_cpus=1)
                cluster.wait_for_nodes()
                address = cluster.address
            try:
                engine = "local" if name == "local" else "ray"
                w, e, vectors = index_once(root, engine, address)
            finally:
                if cluster is not None:
                    ray.shutdown()
                    cluster.shutdown()
            wall[name].append(w)
            embed[name].append(e)
            if base is None:
                base = vectors
            else:
                cos = min(
                    float(base[p] @ v / (np.linalg.norm(base[p]) * np.linalg.norm(v)))
                    for p, v in vectors.items()
                )
                worst[name] = min(worst[name], cos)
                assert base.keys() == vectors.keys(), "the engines indexed different files"
            print(f"round {r + 1} {name:22s} {w:6.1f} s (embedding {e:5.1f} s)", flush=True)
    local_w, local_e = statistics.median(wall["local"]), statistics.median(embed["local"])
    print(f"\n{images} photos 1024x768, {rounds} rounds, medians")
    print(
        "| engine | images/s (whole run) | vs local | images/s (embedding) | vs local "
        "| min cosine to local |"
    )
    print("|---|---|---|---|---|---|")
    for name in names:
        w, e = statistics.median(wall[name]), statistics.median(embed[name])
        cos = f"{worst[name]:.6f}" if name in worst else "-"
        print(
            f"| {name} | {images / w:.1f} | {local_w / w:.2f} | {images / e:.1f} "
            f"| {local_e / e:.2f} | {cos} |"
        )


def milvus(n: int, dim: int = 256, queries: int = 1000) -> None:
    from lookalike.index import create_index
    from lookalike.index.milvus_server import milvus_standalone

    x = mixture(n, dim, 1000, seed=1)
    q = mixture(queries, dim, 1000, seed=2)
    truth = np.argsort(-(q @ x.T), axis=1)[:, :10]
    with tempfile.TemporaryDirectory() as base, milvus_standalone(base) as uri:
        index = create_index("milvus", dim, "cosine", uri=uri, collection="bench")
        try:
            t = time.perf_counter()
            index.add(np.arange(n), x)
            insert = time.perf_counter() - t
            t = time.perf_counter()
            index.flush()  # what an index run's save does: seal, and wait for the index
            built = time.perf_counter() - t
            time.sleep(15)  # the server loads the indexed segments (see index/milvus.py)
            index._wrote = -np.inf  # measure the searches of a process that did not write
            t = time.perf_counter()
            found = index.search(q, 10).ids
            batch = time.perf_counter() - t
            single = []
            for row in q[:200]:
                t = time.perf_counter()
                index.search(row[None], 10)
                single.append(time.perf_counter() - t)
            recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
            gone = np.arange(10_000)
            t = time.perf_counter()
            index.remove(gone)
            index.add(gone, -x[:10_000])
            index.flush()
            churn = time.perf_counter() - t
            # the process that deleted searches at once (Strong for 30 s after its writes)
            # a stale result is a replaced vector found again: the old vector's own id
            hits = index.search(x[:1000], 10).ids
            stale = int((hits == np.arange(1000)[:, None]).any(axis=1).sum())
        finally:
            index.drop()
    print(f"\nMilvus 2.3.5 standalone, {n:,} vectors of {dim} dims, HNSW (M 32, ef 64), cosine")
    print(
        f"insert: {n / insert:,.0f} vectors/s ({insert:.1f} s); flush and index build {built:.1f} s"
    )
    print(
        f"search: {queries / batch:,.0f} queries/s batched; single query median "
        f"{1000 * statistics.median(single):.1f} ms"
    )
    print(f"recall@10 against exact search: {recall:.3f}")
    print(
        f"10,000 deletes + re-adds: {churn:.1f} s; stale results among 1,000 searches "
        f"for the old vectors: {stale}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--vectors", type=int, default=100_000)
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--skip-milvus", action="store_true")
    args = ap.parse_args()
    if not args.skip_ray:
        engines(args.images, args.rounds)
    if not args.skip_milvus:
        milvus(args.vectors)


if __name__ == "__main__":
    main()
