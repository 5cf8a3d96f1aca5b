"""The REST API under load: start ``lookalike serve`` on a loopback port and drive it with
a bounded async client (httpx; a fixed number of requests per level, so it stops by
itself). Prints throughput and p50/p95/p99 latency for search by path and search by
upload (640x480 JPEGs) at 1, 8 and 32 concurrent clients, the server's resident memory
over the run, and any 5xx.

    python benchmarks/serve_load.py DIR [--requests 400] [--levels 1,8,32]

DIR must be indexed. Upload queries are JPEGs made from DIR's own images.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from PIL import Image


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def jpegs(folder: Path, n: int) -> list[bytes]:
    files = [p for p in sorted(folder.rglob("*")) if p.suffix.lower() in {".jpg", ".png"}]
    out = []
    for p in random.Random(0).sample(files, min(n, len(files))):
        buf = io.BytesIO()
        with Image.open(p) as im:
            im.convert("RGB").resize((640, 480)).save(buf, "JPEG", quality=85)
        out.append(buf.getvalue())
    return out


async def level(base: str, make, clients: int, total: int) -> tuple[list[float], int, float]:  # type: ignore[no-untyped-def]
    """``total`` requests from ``clients`` concurrent workers: latencies, 5xx, seconds."""
    latencies: list[float] = []
    errors = 0
    left = iter(range(total))

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        for i in left:
            t = time.perf_counter()
            r = await make(client, i)
            latencies.append(time.perf_counter() - t)
            errors += r.status_code >= 500

    t0 = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        await asyncio.gather(*(worker(client) for _ in range(clients)))
    return latencies, errors, time.perf_counter() - t0


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q / 100 * len(xs)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--levels", default="1,8,32")
    args = ap.parse_args()
    folder = args.folder.resolve()
    rels = [
        str(p.relative_to(folder))
        for p in sorted(folder.rglob("*"))
        if p.suffix.lower() in {".jpg", ".png"} and ".lookalike" not in p.parts
    ]
    uploads = jpegs(folder, 64)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "lookalike", "serve", str(folder), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "LOOKALIKE_TOKEN": ""},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        name = folder.name

        async def by_path(c: httpx.AsyncClient, i: int) -> httpx.Response:
            return await c.post(f"/collections/{name}/search", json={"path": rels[i % len(rels)]})

        async def by_upload(c: httpx.AsyncClient, i: int) -> httpx.Response:
            data = uploads[i % len(uploads)]
            return await c.post(
                f"/collections/{name}/search", files={"image": ("q.jpg", data, "image/jpeg")}
            )

        asyncio.run(level(base, by_path, 1, 20))  # warm: index loaded, encoder built
        asyncio.run(level(base, by_upload, 1, 10))
        print(f"{len(rels):,} images in {folder}; {args.requests} requests per level")
        rss = []
        for label, make in (("search by path", by_path), ("search by upload", by_upload)):
            for clients in (int(x) for x in args.levels.split(",")):
                lat, errors, secs = asyncio.run(level(base, make, clients, args.requests))
                rss.append(rss_mib(server.pid))
                print(
                    f"{label:<17} {clients:>3} clients: {len(lat) / secs:7.1f} req/s, "
                    f"p50 {statistics.median(lat) * 1000:6.1f} ms, "
                    f"p95 {pct(lat, 95) * 1000:6.1f} ms, p99 {pct(lat, 99) * 1000:6.1f} ms, "
                    f"5xx {errors}",
                    flush=True,
                )
        half = rss[len(rss) // 2 :]
        print(
            f"server memory (RSS) after each level: {', '.join(f'{m:.0f}' for m in rss)} MiB; "
            f"growth over the second half {100 * (half[-1] / half[0] - 1):+.1f}%"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
