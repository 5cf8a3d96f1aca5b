"""``lookalike serve``: every endpoint through the real app, the safety rules, and the
server as a real uvicorn process."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from imagegen import scene, variant
from lookalike.api.app import Settings, create_app
from lookalike.api.batcher import Batcher, LoopBatcher, QueueFullError
from lookalike.collection import Collection

TOKEN = "t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def served(photos: Path) -> Path:
    with Collection.open(photos) as col:
        col.index(model="test-tiny", workers=1)
    return photos


def client(root: Path, **kw: object) -> TestClient:
    settings = Settings({"photos": root}, **{"token": TOKEN, **kw})  # type: ignore[arg-type]
    return TestClient(create_app(settings))


def png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def a_file(root: Path) -> str:
    return next(p.name for p in sorted(root.glob("*.jpg")))


def test_read_endpoints(served: Path) -> None:
    name = a_file(served)
    with client(served) as c:
        assert c.get("/health", headers=AUTH).json() == {"status": "ok", "collections": ["photos"]}
        (info,) = c.get("/collections", headers=AUTH).json()
        assert info["name"] == "photos" and info["images"] > 10
        assert info["vector_sets"][0]["encoder"] == "test-tiny"
        by_path = c.post("/collections/photos/search?k=3", json={"path": name}, headers=AUTH)
        assert by_path.status_code == 200
        body = by_path.json()
        assert [r["rank"] for r in body["results"]] == [1, 2, 3]
        assert name not in [r["path"] for r in body["results"]] and body["took_ms"] >= 0
        assert body["encoder"] == "test-tiny" and body["metric"] == "cosine"
        similar = c.get("/collections/photos/similar", params={"path": name, "k": 3}, headers=AUTH)
        assert similar.json()["results"] == body["results"]
        # an altered copy, uploaded, finds its original first
        im = Image.open(served / name)
        up = c.post(
            "/collections/photos/search",
            files={"image": ("q.png", png(variant(im, "resized")), "image/png")},
            headers=AUTH,
        )
        assert up.status_code == 200 and up.json()["results"][0]["path"] == name
        vec = c.post("/collections/photos/search", json={"vector": [0.5] * 192}, headers=AUTH)
        assert vec.status_code == 200 and len(vec.json()["results"]) == 8
        rr = c.post("/collections/photos/search?rerank=true", json={"path": name}, headers=AUTH)
        assert rr.json()["rerank"] is True
        thumb = c.get(
            "/collections/photos/thumbnail", params={"path": name, "size": 64}, headers=AUTH
        )
        assert thumb.headers["content-type"] == "image/jpeg"
        assert max(Image.open(io.BytesIO(thumb.content)).size) == 64
        dup = c.get("/collections/photos/groups", headers=AUTH).json()
        assert {"groups", "thresholds"} <= set(dup)
        clusters = c.get("/collections/photos/groups?mode=clusters&k=3", headers=AUTH).json()
        assert clusters["k"] == 3
        metrics = c.get("/metrics", headers=AUTH).text
        assert "lookalike_requests_total" in metrics and "lookalike_request_seconds" in metrics
        assert c.get("/openapi.json", headers=AUTH).json()["info"]["title"] == "lookalike"


def test_changes_upload_delete_and_index_job(served: Path) -> None:
    with client(served) as c:
        new = png(scene("shapes", 4242))
        added = c.post(
            "/collections/photos/images",
            files={"image": ("my pic!.png", new, "image/png")},
            headers=AUTH,
        )
        assert added.status_code == 200, added.text
        rel = added.json()["path"]
        assert rel.startswith("uploads/my-pic--") and (served / rel).is_file()
        with Collection.open(served) as col:  # indexed with the collection's own encoder
            assert [s.encoder for s in col.catalog.vector_sets()] == ["test-tiny"]
        found = c.get("/collections/photos/similar", params={"path": rel, "k": 1}, headers=AUTH)
        assert found.status_code == 200
        gone = c.delete("/collections/photos/images", params={"path": rel}, headers=AUTH)
        assert gone.status_code == 200 and not (served / rel).exists()
        assert Path(gone.json()["trash"]).is_file()  # moved, never deleted
        assert (
            c.get("/collections/photos/similar", params={"path": rel}, headers=AUTH).status_code
            == 404
        )
        job = c.post("/collections/photos/index", headers=AUTH)
        assert job.status_code == 202
        for _ in range(100):
            state = c.get(f"/jobs/{job.json()['id']}", headers=AUTH).json()
            if state["state"] != "running":
                break
            time.sleep(0.05)
        assert state["state"] == "done" and state["result"]["indexed"] == 0


def test_auth_rules(served: Path) -> None:
    name = a_file(served)
    with client(served) as c:
        assert c.get("/health").status_code == 401
        assert c.get("/health", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert c.get("/health", headers=AUTH).status_code == 200
    with client(served, token=None) as c:  # no token: reads, never changes
        assert c.post("/collections/photos/search", json={"path": name}).status_code == 200
        assert c.post("/collections/photos/index").status_code == 403
        assert c.delete("/collections/photos/images", params={"path": name}).status_code == 403
    with client(served, read_only=True) as c:
        refused = c.post("/collections/photos/index", headers=AUTH)
        assert refused.status_code == 403 and "read-only" in refused.json()["error"]


def test_paths_outside_are_404(served: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    scene("shapes", 1).save(secret)
    (served / "link.png").symlink_to(secret)
    (served / "out").symlink_to(tmp_path, target_is_directory=True)
    (served / "sub").mkdir()
    cases = ["../secret.png", str(secret), "link.png", ".lookalike/catalog.db", "", "nope.png"]
    cases += [".", "sub", "out/secret.png", "sub/../link.png"]
    with client(served) as c:
        for rel in cases:
            r = c.get("/collections/photos/similar", params={"path": rel}, headers=AUTH)
            assert r.status_code == 404, rel
            assert set(r.json()) == {"error"} and "Traceback" not in r.text
        # a link that stays inside the folder names the file it points to
        (served / "again.jpg").symlink_to(served / a_file(served))
        r = c.get("/collections/photos/similar", params={"path": "again.jpg"}, headers=AUTH)
        same = c.get("/collections/photos/similar", params={"path": a_file(served)}, headers=AUTH)
        assert r.status_code == 200 and r.json()["results"] == same.json()["results"]
        assert c.get("/collections/nope/similar?path=x", headers=AUTH).status_code == 404


def test_bad_uploads(served: Path) -> None:
    big = np.random.default_rng(0).integers(0, 256, (800, 800, 3), dtype=np.uint8)
    with client(served, max_upload_mb=0.1) as c:

        def send(data: bytes, name: str = "x.png") -> int:
            files = {"image": (name, data, "application/octet-stream")}
            return c.post("/collections/photos/search", files=files, headers=AUTH).status_code

        assert send(png(Image.fromarray(big))) == 413
        assert send(b"just some text", "x.txt") == 415
        assert send(b"\x89PNG\r\n\x1a\n" + b"\0" * 100) == 422
    bomb = png(Image.new("RGB", (20000, 12000)))  # 240 Mpx in 0.7 MB
    with client(served, max_upload_mb=2) as c:
        files = {"image": ("bomb.png", bomb, "image/png")}
        r = c.post("/collections/photos/search", files=files, headers=AUTH)
        assert r.status_code == 422 and "too many pixels" in r.json()["error"]


def test_full_encoder_queue_is_429(served: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(self: Batcher, pixels: object, timeout: float = 30.0) -> None:
        raise QueueFullError

    monkeypatch.setattr(Batcher, "encode", full)
    with client(served) as c:
        files = {"image": ("q.png", png(scene("shapes", 1)), "image/png")}
        r = c.post("/collections/photos/search", files=files, headers=AUTH)
    assert r.status_code == 429 and r.headers["retry-after"] == "1"


def test_batcher_batches_and_bounds() -> None:
    from conftest import TinyEncoder

    slow = TinyEncoder(delay=0.05)
    b = Batcher(slow, max_batch=8, wait_ms=20, limit=64)
    px = np.zeros((8, 8, 3), np.uint8)
    out: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: out.append(b.encode(px))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 8 and b.batches < 8  # shared encoder calls
    tight = Batcher(TinyEncoder(delay=0.5), max_batch=1, wait_ms=0, limit=1, workers=1)
    threading.Thread(target=lambda: tight.encode(px), daemon=True).start()
    time.sleep(0.1)  # the worker holds the first; one more fills the queue
    threading.Thread(target=lambda: tight.encode(px), daemon=True).start()
    time.sleep(0.05)
    with pytest.raises(QueueFullError):
        tight.encode(px)


def test_a_lone_request_does_not_wait_for_companions() -> None:
    from conftest import TinyEncoder

    b = Batcher(TinyEncoder(), max_batch=8, wait_ms=500, workers=1)
    px = np.zeros((8, 8, 3), np.uint8)
    for _ in range(3):
        t0 = time.perf_counter()
        b.encode(px)
        assert time.perf_counter() - t0 < 0.25  # not the 500 ms a batch may wait


def test_batcher_workers_encode_batches_at_once() -> None:
    from conftest import TinyEncoder

    px = np.zeros((8, 8, 3), np.uint8)
    timings = {}
    for workers in (1, 2):
        b = Batcher(TinyEncoder(delay=0.3), max_batch=1, wait_ms=0, workers=workers)
        threads = [threading.Thread(target=lambda b=b: b.encode(px)) for _ in range(2)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        timings[workers] = time.perf_counter() - t0
    assert timings[1] >= 0.6 and timings[2] < 0.55  # two batches ran side by side


def test_loop_batcher_batches_on_the_loop_and_steps_aside_when_busy() -> None:
    """Requests that arrive together share one call, made on the event loop's own thread;
    with the lock held elsewhere (an index run) the call goes to a worker thread and the
    loop keeps serving; a slow call sends the next ones to a thread too; an error reaches
    every waiter; past the limit, QueueFullError."""
    seen: list[tuple[int, str]] = []

    def double(items: list[int]) -> list[int]:
        seen.append((len(items), threading.current_thread().name))
        return [2 * i for i in items]

    async def together(b: LoopBatcher[int, int], n: int) -> list[int]:
        return list(await asyncio.gather(*(b.submit(i) for i in range(n))))

    loop_thread = threading.current_thread().name
    b = LoopBatcher(double, max_batch=32, limit=64)
    assert asyncio.run(together(b, 10)) == [2 * i for i in range(10)]
    assert seen == [(10, loop_thread)] and b.batches == 1

    lock = threading.RLock()

    def guarded(items: list[int]) -> list[int]:  # as a collection's methods take its guard
        with lock:
            return double(items)

    busy = LoopBatcher(guarded, lock=lock)
    held, release = threading.Event(), threading.Event()

    def index_run() -> None:
        with lock:
            held.set()
            release.wait(5)

    threading.Thread(target=index_run, daemon=True).start()
    held.wait(5)

    async def while_busy() -> tuple[list[int], int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        got = await asyncio.gather(busy.submit(1), busy.submit(2))
        ticker.cancel()
        return list(got), ticks

    seen.clear()
    release_later = threading.Timer(0.2, release.set)
    release_later.start()
    got, ticks = asyncio.run(while_busy())
    assert got == [2, 4] and seen[0][1] != loop_thread  # a worker thread ran it
    assert ticks >= 5  # ... while the loop went on (the lock was held for 0.2 s)

    def slow(items: list[int]) -> list[int]:
        time.sleep(0.05)
        return double(items)

    seen.clear()
    lagging = LoopBatcher(slow, inline_ms=20)
    asyncio.run(lagging.submit(1))
    asyncio.run(lagging.submit(2))
    assert seen[0][1] == loop_thread and seen[1][1] != loop_thread

    def broken(items: list[int]) -> list[int]:
        raise ValueError("no index")

    async def failing() -> list[BaseException | int]:
        bad = LoopBatcher(broken)
        return list(await asyncio.gather(bad.submit(1), bad.submit(2), return_exceptions=True))

    assert all(isinstance(e, ValueError) for e in asyncio.run(failing()))

    stale = LoopBatcher(double)

    async def one() -> int:
        return await asyncio.wait_for(stale.submit(1), timeout=2)

    assert asyncio.run(one()) == 2
    old = asyncio.new_event_loop()  # a loop that stopped in the middle of a batch
    orphan = stale._task = old.create_task(asyncio.sleep(3600))
    assert asyncio.run(one()) == 2  # a new loop (a restarted app) is still answered
    orphan.cancel()
    old.run_until_complete(asyncio.gather(orphan, return_exceptions=True))
    old.close()

    async def flood() -> None:
        tight = LoopBatcher(double, limit=3)
        await asyncio.gather(*(tight.submit(i) for i in range(4)))

    with pytest.raises(QueueFullError):
        asyncio.run(flood())


def test_index_run_elsewhere_is_picked_up(served: Path) -> None:
    name = a_file(served)
    with client(served) as c:
        before = c.post("/collections/photos/search", json={"path": name}, headers=AUTH).json()
        scene("stripes", 99).save(served / "new-one.png")
        done = subprocess.run(
            [sys.executable, "-c",
             "import sys; sys.path.insert(0, 'tests'); import conftest; "
             "from lookalike.cli.main import main; "
             f"sys.exit(main(['index', {str(served)!r}, '--model', 'test-tiny', '-q']))"],
            capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        after = c.post("/collections/photos/search", json={"path": name}, headers=AUTH).json()
        hit = c.get("/collections/photos/similar", params={"path": "new-one.png"}, headers=AUTH)
    assert before["vector_set"] == after["vector_set"] and hit.status_code == 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(
    root: Path, port: int, delay: float = 0.0, *, log: bool = False
) -> subprocess.Popen[str]:
    """``lookalike serve`` in a real process; ``delay`` slows the encoder (seconds per
    image) so that an upload's index run is still in flight when the test acts; with
    ``log`` its stderr (the request log) is kept for reading."""
    code = (
        "import sys; sys.path.insert(0, 'tests'); import conftest; "
        "from lookalike.encoders import register_encoder; "
        f"register_encoder('test-tiny', lambda **kw: conftest.TinyEncoder(delay={delay}, **kw), "
        "replace=True); "
        "from lookalike.cli.main import main; "
        f"sys.exit(main(['serve', {str(root)!r}, '--port', '{port}']))"
    )
    env = {**os.environ, "LOOKALIKE_TOKEN": TOKEN}
    stderr = subprocess.PIPE if log else subprocess.DEVNULL
    return subprocess.Popen([sys.executable, "-c", code], env=env, stderr=stderr, text=True)


def _wait_up(base: str) -> None:
    import httpx

    for _ in range(200):
        try:
            if httpx.get(f"{base}/health", headers=AUTH).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the server did not start")


def test_real_server_concurrency_and_sigterm_drain(served: Path) -> None:
    import httpx

    port = _free_port()
    proc = _start_server(served, port, log=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_up(base)
        name = a_file(served)
        upload = png(scene("shapes", 7))
        codes: list[int] = []

        def hammer() -> None:
            with httpx.Client(base_url=base, headers=AUTH, timeout=30) as h:
                for i in range(10):
                    if i % 2:
                        r = h.post("/collections/photos/search", json={"path": name})
                    else:
                        r = h.post(
                            "/collections/photos/search",
                            files={"image": ("q.png", upload, "image/png")},
                        )
                    codes.append(r.status_code)

        workers = [threading.Thread(target=hammer) for _ in range(8)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert codes.count(200) == 80, codes
        # a request in flight when SIGTERM arrives is still answered
        slow: list[int] = []
        t = threading.Thread(
            target=lambda: slow.append(
                httpx.get(f"{base}/collections/photos/groups", headers=AUTH, timeout=30).status_code
            )
        )
        t.start()
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        t.join()
        # uvicorn finishes what is in flight, then exits by the signal it was sent
        assert proc.wait(timeout=20) in (0, -signal.SIGTERM) and slow == [200]
        log = proc.stderr.read() if proc.stderr else ""
        assert "POST /collections/photos/search 200" in log and "Traceback" not in log
    finally:
        if proc.poll() is None:
            proc.kill()


def test_an_upload_killed_in_flight_leaves_the_catalogue_consistent(served: Path) -> None:
    """SIGKILL while an upload is being indexed: after a restart the image is either fully
    indexed or absent, and a re-upload is indexed once."""
    import httpx

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start_server(served, port, delay=2.0)
    picture = png(scene("shapes", 9090))
    try:
        _wait_up(base)

        def upload() -> None:
            with contextlib.suppress(httpx.TransportError):
                httpx.post(
                    f"{base}/collections/photos/images",
                    files={"image": ("killed.png", picture, "image/png")},
                    headers=AUTH,
                    timeout=30,
                )

        t = threading.Thread(target=upload)
        t.start()
        for _ in range(100):  # the file is stored, its index run is under way
            if list((served / "uploads").glob("killed-*.png")):
                break
            time.sleep(0.05)
        time.sleep(0.5)
        proc.kill()
        proc.wait(timeout=10)
        t.join()
    finally:
        if proc.poll() is None:
            proc.kill()
    stored = list((served / "uploads").glob("killed-*.png"))
    assert len(stored) == 1  # killed after the file was stored, during its index run
    with Collection.open(served) as col:
        table = col.vectors(model="test-tiny")
        assert len(set(table.paths)) == len(table.paths) == len(table)  # nothing half-written
        assert all((served / p).is_file() for p in table.paths)
        indexed = [p for p in table.paths if p.startswith("uploads/killed-")]
        assert len(indexed) <= 1 and all(served / p in stored for p in indexed)
    # restarted: the next run picks up a stored but unindexed upload; a re-upload is indexed once
    proc = _start_server(served, port)
    try:
        _wait_up(base)
        again = httpx.post(
            f"{base}/collections/photos/images",
            files={"image": ("killed.png", picture, "image/png")},
            headers=AUTH,
            timeout=30,
        )
        assert again.status_code == 200, again.text
        rel = again.json()["path"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    with Collection.open(served) as col:
        table = col.vectors(model="test-tiny")
        assert table.paths.count(rel) == 1 and len(set(table.paths)) == len(table.paths)
        uploads = sorted(str(p.relative_to(served)) for p in (served / "uploads").glob("*.png"))
        assert uploads == sorted(p for p in table.paths if p.startswith("uploads/"))


def test_serve_refuses_an_open_address_without_a_token(served: Path) -> None:
    from lookalike.cli.main import main

    env = dict(os.environ)
    env.pop("LOOKALIKE_TOKEN", None)
    assert main(["serve", str(served), "--host", "0.0.0.0", "--port", "1"]) == 2
    assert json.dumps({"ok": True})  # keeps json imported for the body checks above


def test_start_up_loads_the_index_and_freezes_it(served: Path, tmp_path: Path) -> None:
    """Before the first request the server opens each collection and loads its index,
    then takes all of it out of the garbage collector's passes; a folder that is not
    indexed does not stop the start."""
    import gc

    (tmp_path / "empty").mkdir()
    settings = Settings({"photos": served, "empty": tmp_path / "empty"}, token=TOKEN)
    app = create_app(settings)
    state = app.state.lookalike
    gc.unfreeze()
    try:
        with TestClient(app) as c:
            assert set(state.opened) == {"photos", "empty"}
            assert state.opened["photos"].parts.indexes._loaded  # loaded ahead
            assert gc.get_freeze_count() > 0
            assert c.get("/health", headers=AUTH).status_code == 200
    finally:
        gc.unfreeze()
