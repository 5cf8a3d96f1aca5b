"""The REST API under load: start ``lookalike serve`` on a loopback port and drive it.

Prints throughput and p50/p95/p99 latency for search by path and search by upload
(640x480 JPEGs) at 1, 8 and 32 concurrent clients, the server's resident memory after
each level, and any 5xx; then the throughput of ``Collection.index`` on the same JPEGs,
so the upload figures can be read against what the encoder does alone.

The load comes from ``wrk`` (a C load generator, Debian package ``wrk``) when it is
installed: a Python client on the same 2 cores takes half the CPU and measures itself.
Without it, a bounded httpx client (a fixed number of requests per level) drives the
load, and the figures are the client's limit as much as the server's.

    python benchmarks/serve_load.py DIR [--seconds 15] [--requests 400] [--levels 1,8,32]
        [--client wrk|httpx] [--index-images 400] [--paced 400]

DIR must be indexed. Upload queries are JPEGs made from DIR's own images. The figures in
the README come from the 100,000-image set that ``benchmarks/fm100k.py`` writes.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
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


#: wrk's script: requests from a list (path bodies, or multipart uploads read from files),
#: 5xx counted, and one RESULT line with requests, seconds, p50, p95, p99 (ms) and 5xx.
WRK_SCRIPT = r"""
local mode, list, collection = "%(mode)s", "%(list)s", "%(name)s"
local bodies, boundary = {}, "lookalikeboundary"
for line in io.lines(list) do
  if mode == "path" then
    bodies[#bodies + 1] = '{"path": "' .. line .. '"}'
  else
    local f = io.open(line, "rb"); local data = f:read("*a"); f:close()
    bodies[#bodies + 1] = "--" .. boundary .. "\r\nContent-Disposition: form-data; " ..
      'name="image"; filename="q.jpg"\r\nContent-Type: image/jpeg\r\n\r\n' .. data ..
      "\r\n--" .. boundary .. "--\r\n"
  end
end
local pause = %(delay)f
if pause > 0 then function delay() return pause end end
local kind = mode == "path" and "application/json" or
  ("multipart/form-data; boundary=" .. boundary)
local threads, i = {}, 0
errors5 = 0
function setup(thread) table.insert(threads, thread) end
function request()
  i = i + 1
  return wrk.format("POST", "/collections/" .. collection .. "/search",
    {["Content-Type"] = kind}, bodies[(i %% #bodies) + 1])
end
function response(status) if status >= 500 then errors5 = errors5 + 1 end end
function done(summary, latency)
  local e = 0
  for _, t in ipairs(threads) do e = e + t:get("errors5") end
  io.write(string.format("RESULT %%d %%.3f %%.3f %%.3f %%.3f %%d\n", summary.requests,
    summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(95) / 1e3,
    latency:percentile(99) / 1e3, e))
end
"""


def wrk_level(
    base: str,
    name: str,
    mode: str,
    items: list[str],
    clients: int,
    seconds: int,
    work: Path,
    rate: float = 0.0,
) -> tuple[float, float, float, float, int]:
    """(requests/s, p50, p95, p99 in ms, 5xx) of ``seconds`` of ``wrk`` load: each client
    sends its next request as soon as the last is answered, or with ``rate``, after a
    pause that spreads ``rate`` requests a second over the clients (an application's
    clients that do something between calls; the rate reached is what is printed)."""
    listing = work / f"{mode}.txt"
    listing.write_text("\n".join(items) + "\n")
    script = work / f"{mode}.lua"
    delay = 1000.0 * clients / rate if rate else 0.0
    script.write_text(WRK_SCRIPT % {"mode": mode, "list": listing, "name": name, "delay": delay})
    out = subprocess.run(
        ["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "-s", str(script), base],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    line = next(x for x in out.splitlines() if x.startswith("RESULT"))
    n, secs, p50, p95, p99, errors = line.split()[1:]
    return int(n) / float(secs), float(p50), float(p95), float(p99), int(errors)


def index_rate(uploads: list[bytes], count: int) -> float:
    """images/s of ``Collection.index`` (the default encoder) on ``count`` of the upload
    JPEGs written to a fresh folder: what the encoder does without the server."""
    from lookalike import Collection

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "jpegs"
        root.mkdir()
        for i in range(count):
            (root / f"q{i:05d}.jpg").write_bytes(uploads[i % len(uploads)])
        with Collection.open(root) as col:
            report = col.index()
        return report.indexed / report.embed_seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--requests", type=int, default=400, help="httpx: requests per level")
    ap.add_argument("--seconds", type=int, default=15, help="wrk: seconds per level")
    ap.add_argument("--levels", default="1,8,32")
    ap.add_argument("--client", choices=("wrk", "httpx"), default=None)
    ap.add_argument("--index-images", type=int, default=400)
    ap.add_argument(
        "--paced",
        type=float,
        default=0.0,
        help="wrk: also search by path at the largest level, clients pausing so that "
        "together they send this many requests/s",
    )
    args = ap.parse_args()
    client = args.client or ("wrk" if shutil.which("wrk") else "httpx")
    folder = args.folder.resolve()
    rels = [
        str(p.relative_to(folder))
        for p in sorted(folder.rglob("*"))
        if p.suffix.lower() in {".jpg", ".png"} and ".lookalike" not in p.parts
    ]
    random.Random(0).shuffle(rels)
    uploads = jpegs(folder, 64)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "lookalike", "serve", str(folder), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "LOOKALIKE_TOKEN": ""},
    )
    base = f"http://127.0.0.1:{port}"
    work = Path(tempfile.mkdtemp(prefix="serve-load-"))
    upload_files = []
    for i, data in enumerate(uploads):
        upload_files.append(str(work / f"q{i:02d}.jpg"))
        Path(upload_files[-1]).write_bytes(data)
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
        asyncio.run(level(base, by_upload, 32, 200))  # the encoder's buffers at full batches
        amount = f"{args.seconds} s" if client == "wrk" else f"{args.requests} requests"
        print(f"{len(rels):,} images in {folder}; {amount} per level; load from {client}")
        rss: list[float] = []
        for label, make, mode, items in (
            ("search by path", by_path, "path", rels[:5000]),
            ("search by upload", by_upload, "upload", upload_files),
        ):
            for clients in (int(x) for x in args.levels.split(",")):
                samples: list[float] = []
                stop = threading.Event()

                def sample(into: list[float] = samples, done: threading.Event = stop) -> None:
                    while not done.wait(0.5):
                        into.append(rss_mib(server.pid))

                sampler = threading.Thread(target=sample)
                sampler.start()
                if client == "wrk":
                    rate, p50, p95, p99, errors = wrk_level(
                        base, name, mode, items, clients, args.seconds, work
                    )
                else:
                    lat, errors, secs = asyncio.run(level(base, make, clients, args.requests))
                    rate = len(lat) / secs
                    p50, p95, p99 = (1000 * pct(lat, q) for q in (50, 95, 99))
                stop.set()
                sampler.join()
                rss.append(rss_mib(server.pid))
                mid = samples[len(samples) // 2] if samples else rss[-1]
                print(
                    f"{label:<17} {clients:>3} clients: {rate:7.1f} req/s, p50 {p50:6.1f} ms, "
                    f"p95 {p95:6.1f} ms, p99 {p99:6.1f} ms, 5xx {errors}, "
                    f"RSS {rss[-1]:.0f} MiB ({100 * (rss[-1] / mid - 1):+.1f}% over the "
                    "level's second half)",
                    flush=True,
                )
        if args.paced and client == "wrk":
            clients = max(int(x) for x in args.levels.split(","))
            rate, p50, p95, p99, errors = wrk_level(
                base, name, "path", rels[:5000], clients, args.seconds, work, args.paced
            )
            print(
                f"search by path    {clients:>3} clients, paced at {args.paced:.0f} req/s: "
                f"{rate:7.1f} req/s, p50 {p50:6.1f} ms, p95 {p95:6.1f} ms, p99 {p99:6.1f} ms, "
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
        shutil.rmtree(work, ignore_errors=True)
    if args.index_images:
        rate = index_rate(uploads, args.index_images)
        print(f"Collection.index, {args.index_images} of the same JPEGs: {rate:.1f} images/s")


if __name__ == "__main__":
    main()
