"""Throughput of a full ``index`` run, against the bound that decode and encode imply.

For each encoder and runtime it measures, in one run:
  * decode time per image (read + hash + reduced JPEG decode + resize), one core;
  * encoder time per image (batches of 32), one core;
  * the bound: cores / (decode + encode), i.e. every core busy all the time;
  * end-to-end ``Collection.index`` images/s (fresh database each time) and its share of
    the bound.
Every figure is the median of ``--runs`` runs. Photo sets: 1,000 JPEGs of 1024x768 and
200 of 4000x3000, made from scikit-image's sample photos and cached.

    python benchmarks/index_throughput.py [--encoders efficientnet-lite0,...]
        [--runtimes onnx,torch] [--poolings multi,avg] [--precisions fp32,int8] [--runs 3]
        [--small 1000] [--large 200]
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from lookalike import Collection, create_encoder
from lookalike.config import default_workers
from lookalike.imageio import read_image

try:
    from benchmarks.photoset import photo_set
except ImportError:  # run as a script
    from photoset import photo_set  # type: ignore[no-redef]


def per_image_decode(files: list[Path], size: int, runs: int) -> float:
    """Median seconds per image to read and decode, on one thread."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        for f in files:
            read_image(f, size=size)
        times.append((time.perf_counter() - t) / len(files))
    return statistics.median(times)


def per_image_encode(encoder, size: int, runs: int, n: int = 128) -> float:  # type: ignore[no-untyped-def]
    """Median seconds per image for the encoder alone (batches of 32), one thread."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    encoder.encode(pixels[:32])  # warm up
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        encoder.encode(pixels, batch_size=32)
        times.append((time.perf_counter() - t) / n)
    return statistics.median(times)


def end_to_end(root: Path, encoder, runs: int) -> float:  # type: ignore[no-untyped-def]
    """Median images/s of a full index run on a fresh database."""
    rates = []
    for _ in range(runs):
        db = Path(tempfile.mkdtemp(prefix="lookalike-bench-db-"))
        try:
            with Collection.open(root, db=db) as col:
                report = col.index(encoder)
            rates.append(report.indexed / report.seconds)
        finally:
            shutil.rmtree(db, ignore_errors=True)
    return statistics.median(rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--encoders", default="efficientnet-lite0,efficientnet-lite2")
    ap.add_argument("--runtimes", default="onnx,torch")
    ap.add_argument("--poolings", default="", help="e.g. multi,avg (default: the encoder's)")
    ap.add_argument("--precisions", default="fp32", help="e.g. fp32,int8 (EfficientNet)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--small", type=int, default=1000, help="1024x768 photos")
    ap.add_argument("--large", type=int, default=200, help="4000x3000 photos")
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--decode-sample", type=int, default=100)
    args = ap.parse_args()

    cores = default_workers()
    print(f"cores: {cores}   runs: {args.runs} (medians)   input: {args.image_size} px")
    sets = {}
    for label, count, size in (
        ("1024x768", args.small, (1024, 768)),
        ("4000x3000", args.large, (4000, 3000)),
    ):
        if count:
            t = time.perf_counter()
            sets[label] = photo_set(count, size)
            took = time.perf_counter() - t
            print(f"photo set {label}: {count} JPEGs in {sets[label]} ({took:.0f} s)")

    decode = {}
    for label, root in sets.items():
        files = sorted(root.glob("*.jpg"))[: args.decode_sample]
        decode[label] = per_image_decode(files, args.image_size, args.runs)
        print(f"decode {label}: {decode[label] * 1000:.2f} ms/image (one core)")

    header = (
        f"{'encoder':<20}{'pooling':<9}{'runtime':<8}{'prec':<6}{'set':<11}"
        f"{'enc ms':>8}{'dec ms':>8}{'bound/s':>9}{'index/s':>9}{'share':>7}"
    )
    rows = []
    poolings: list[str | None] = [p for p in args.poolings.split(",") if p] or [None]
    precisions = args.precisions.split(",")
    for name, pooling, runtime, precision in itertools.product(
        args.encoders.split(","), poolings, args.runtimes.split(","), precisions
    ):
        opts: dict[str, object] = {"image_size": args.image_size}
        if name.startswith("efficientnet"):
            if precision == "int8" and runtime == "torch":
                continue  # int8 runs in ONNX Runtime only
            opts |= {"runtime": runtime, "threads": 1, "precision": precision}
            if pooling:
                opts["pooling"] = pooling
        elif (runtime, pooling, precision) != (
            args.runtimes.split(",")[0],
            poolings[0],
            precisions[0],
        ):
            continue  # hand-crafted encoders have one runtime, no pooling, no precision
        encoder = create_encoder(name, **opts)
        enc = per_image_encode(encoder, args.image_size, args.runs)
        for label, root in sets.items():
            bound = cores / (enc + decode[label])
            rate = end_to_end(root, encoder, args.runs)
            row = (
                f"{name:<20}{encoder.pooling or '-':<9}"
                f"{getattr(encoder, 'runtime', '-'):<8}{precision:<6}{label:<11}"
                f"{enc * 1000:>8.2f}{decode[label] * 1000:>8.2f}{bound:>9.1f}"
                f"{rate:>9.1f}{rate / bound:>7.0%}"
            )
            rows.append(row)
            print(row, flush=True)
        encoder.close()
    print()
    print(header)
    for r in rows:
        print(r)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
