"""The REST API: FastAPI over ``Collection``, safe by default.

- Every error is a JSON body ``{"error": message}`` with no stack trace.
- With a token (``LOOKALIKE_TOKEN``), every request needs ``Authorization: Bearer``;
  changes (upload, delete, index) always need it, and ``read_only`` refuses them.
- Paths are resolved inside the collection or answered 404 (``api.paths``).
- Upload searches are micro-batched into one encoder call (``api.batcher``); a full queue
  answers 429 with Retry-After.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import logging
import shutil
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lookalike.api.batcher import Batcher, LoopBatcher, QueueFullError
from lookalike.api.paths import OutsideError, inside
from lookalike.collection import Collection
from lookalike.config import DEFAULT_K, DEFAULT_METRIC
from lookalike.errors import (
    CollectionBusyError,
    CollectionNotFoundError,
    ImageDecodeError,
    LookalikeError,
    NotIndexedError,
)
from lookalike.imageio.decode import decode_bytes, load_thumbnail
from lookalike.imageio.discover import rel_path
from lookalike.results import IndexReport, Progress, SearchResult

log = logging.getLogger("lookalike.serve")

#: Upload searches waiting for the encoder beyond this are refused with 429.
QUEUE_LIMIT = 64
#: Where uploaded images go inside a collection, and removed ones.
UPLOADS = "uploads"
TRASH = "trash"


class ApiError(Exception):
    """An answer other than 200, with its status and message."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


@dataclass
class Job:
    """A background index run."""

    id: str
    collection: str
    state: str = "running"
    phase: str = ""
    done: int = 0
    total: int = 0
    result: dict[str, Any] | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class Settings:
    """What ``lookalike serve`` was started with."""

    collections: dict[str, Path]
    token: str | None = None
    read_only: bool = False
    max_upload_mb: float = 20.0
    queue_limit: int = QUEUE_LIMIT


@dataclass
class State:
    """The server's open collections, encoders' batchers, jobs and metrics."""

    settings: Settings
    opened: dict[str, Collection] = field(default_factory=dict)
    batchers: dict[str, Batcher] = field(default_factory=dict)
    searchers: dict[tuple[str, str, str], LoopBatcher[Path, SearchResult]] = field(
        default_factory=dict
    )
    jobs: dict[str, Job] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "lookalike_requests", "Requests answered", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "lookalike_request_seconds", "Time to answer", ["route"], registry=r
        )
        self.queue = Gauge("lookalike_encoder_queue", "Upload searches waiting", registry=r)
        self.indexed = Counter("lookalike_images_indexed", "Images indexed", registry=r)

    def collection(self, name: str) -> Collection:
        """The open collection ``name``; 404 for an unknown one."""
        root = self.settings.collections.get(name)
        if root is None:
            raise ApiError(404, f"no collection named {name!r}")
        with self.lock:
            col = self.opened.get(name)
            if col is None:
                col = self.opened[name] = Collection.open(root)
            return col

    def batcher(self, col: Collection, key: str) -> Batcher:
        """The micro-batcher of the encoder of vector set ``key``."""
        with self.lock:
            b = self.batchers.get(key)
            if b is None:
                encoder = col.encoder_for(col.vectors_set(key=key))
                b = self.batchers[key] = Batcher(encoder, limit=self.settings.queue_limit)
            return b

    def searcher(
        self, name: str, col: Collection, q: SearchParams
    ) -> LoopBatcher[Path, SearchResult]:
        """The micro-batcher of path searches with the same options (one index search
        for all the paths that arrive together)."""
        options = q.options()
        key = (name, json.dumps(options, sort_keys=True), "path")
        with self.lock:
            b = self.searchers.get(key)
            if b is None:
                del options["rerank"]

                def run(paths: list[Path]) -> list[SearchResult]:
                    return col.search_many(paths, **options)

                b = self.searchers[key] = LoopBatcher(
                    run, max_batch=32, limit=self.settings.queue_limit, lock=col.guard
                )
            return b

    def warm(self) -> None:
        """Open every collection and load its default search index before the first
        request, then move all that is loaded out of the garbage collector's sight
        (``gc.freeze``): a full collection pass over the objects of a large catalogue
        and index stalls every request in flight for tens of milliseconds."""
        import gc

        for name in self.settings.collections:
            try:
                col = self.collection(name)
                if col.is_indexed:
                    col.search_many([])  # no query: loads the default index, no more
            except LookalikeError as exc:  # served as an error when it is asked for
                log.warning("%s: not loaded ahead: %s", name, exc)
        gc.collect()
        gc.freeze()

    def close(self) -> None:
        for col in self.opened.values():
            col.close()
        self.opened.clear()


def _status_of(exc: LookalikeError) -> int:
    if isinstance(exc, CollectionNotFoundError):
        return 404
    if isinstance(exc, NotIndexedError):
        return 409
    if isinstance(exc, CollectionBusyError):
        return 503
    if isinstance(exc, ImageDecodeError):
        return 415 if "not an image" in exc.reason else 422
    return 400


def _answer(result: SearchResult, root: Path, t0: float) -> dict[str, Any]:
    return {
        "results": [
            {"rank": m.rank, "path": rel_path(m.path, root), "score": round(m.score, 6)}
            for m in result.matches
        ],
        "encoder": result.encoder,
        "pooling": result.pooling,
        "metric": result.metric,
        "vector_set": result.vector_set,
        "index": result.index,
        "rerank": result.rerank,
        "took_ms": round((time.perf_counter() - t0) * 1000, 2),
    }


def create_app(settings: Settings) -> FastAPI:
    """The FastAPI application for ``settings``."""
    state = State(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        from starlette.concurrency import run_in_threadpool

        await run_in_threadpool(state.warm)
        yield
        state.close()

    app = FastAPI(
        title="lookalike",
        summary="Find and group similar images: search a collection by example.",
        version=_version(),
        lifespan=lifespan,
    )
    app.state.lookalike = state
    limit = int(settings.max_upload_mb * 2**20)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, exc.status, headers=exc.headers)

    @app.exception_handler(LookalikeError)
    async def lookalike_error(_: Request, exc: LookalikeError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, _status_of(exc))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("internal error: %s: %s", type(exc).__name__, exc)
        return JSONResponse({"error": "internal error"}, 500)

    app.add_middleware(Guard, settings=settings, state=state, limit=limit)

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Alive, and which collections it serves."""
        return {"status": "ok", "collections": sorted(settings.collections)}

    @app.get("/collections")
    def collections() -> list[dict[str, Any]]:
        """Each collection: images, skipped files, and vector sets."""
        out = []
        for name in sorted(settings.collections):
            info = state.collection(name).info()
            out.append(
                {
                    "name": name,
                    "images": info.ok,
                    "skipped": len(info.skipped),
                    "vector_sets": [
                        {
                            "key": s.key,
                            "encoder": s.encoder,
                            "pooling": s.pooling,
                            "dim": s.dim,
                            "vectors": s.count,
                            "default": s.default,
                            "index": s.index_stats.kind if s.index_stats else s.index_kind,
                            "recall_at_10": s.index_stats.recall_at_10 if s.index_stats else None,
                        }
                        for s in info.vector_sets
                    ],
                }
            )
        return out

    @app.post("/collections/{name}/search")
    async def search(
        name: str, request: Request, q: Annotated[SearchParams, Depends(search_params)]
    ) -> dict[str, Any]:
        """Search by an uploaded image (multipart field ``image``), by ``{"path": ...}`` of
        an image of the collection, or by ``{"vector": [...]}``."""
        import numpy as np
        from starlette.concurrency import run_in_threadpool

        t0 = time.perf_counter()
        col = state.collection(name)
        kind = request.headers.get("content-type", "")
        opts = q.options()
        if kind.startswith("multipart/form-data"):
            data, filename = await _read_upload(request, limit, settings.max_upload_mb)
            result = await run_in_threadpool(_search_upload, state, col, data, filename, opts)
        else:
            try:
                body = json.loads(await request.body() or b"{}")
            except ValueError:
                raise ApiError(400, "the body must be JSON or a multipart upload") from None
            if "path" in body:
                path = _inside(col.root, str(body["path"]))
                if q.rerank:
                    result = await run_in_threadpool(lambda: col.search(path, **opts))
                else:
                    result = await _batched(state.searcher(name, col, q), path)
            elif "vector" in body:
                vector = np.asarray(body["vector"], dtype=np.float32)
                result = await run_in_threadpool(lambda: col.search(vector, **opts))
            else:
                raise ApiError(400, "send an image (multipart 'image'), a path or a vector")
        return _answer(result, col.root, t0)

    @app.get("/collections/{name}/similar")
    async def similar(
        name: str, path: str, q: Annotated[SearchParams, Depends(search_params)]
    ) -> dict[str, Any]:
        """The images most like one image of the collection (batched with the other path
        searches that arrive together, like a search by ``{"path": ...}``)."""
        from starlette.concurrency import run_in_threadpool

        t0 = time.perf_counter()
        col = state.collection(name)
        found = _inside(col.root, path)
        if q.rerank:
            result = await run_in_threadpool(lambda: col.search(found, **q.options()))
        else:
            result = await _batched(state.searcher(name, col, q), found)
        return _answer(result, col.root, t0)

    @app.post("/collections/{name}/images")
    async def upload(name: str, request: Request) -> dict[str, Any]:
        """Add an image to the collection (``DIR/uploads/``) and index it."""
        from starlette.concurrency import run_in_threadpool

        _mutation(request, settings)
        col = state.collection(name)
        data, filename = await _read_upload(request, limit, settings.max_upload_mb)
        return await run_in_threadpool(_add_image, state, col, data, filename)

    @app.delete("/collections/{name}/images")
    def remove(name: str, path: str, request: Request) -> dict[str, Any]:
        """Take an image out of the index; the file moves to ``DIR/.lookalike/trash/``."""
        _mutation(request, settings)
        col = state.collection(name)
        found = _inside(col.root, path)
        trash = col.db / TRASH / f"{uuid.uuid4().hex[:8]}-{found.name}"
        trash.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(found), trash)
        report = _reindex(col)
        return {"removed": path, "trash": str(trash), "images": report.files_seen}

    @app.post("/collections/{name}/index", status_code=202)
    def index(name: str, request: Request) -> dict[str, Any]:
        """Start an incremental index run in the background; see ``/jobs/{id}``."""
        _mutation(request, settings)
        col = state.collection(name)
        job = Job(uuid.uuid4().hex[:12], name)
        state.jobs[job.id] = job

        def tick(p: Progress) -> None:
            job.phase, job.done, job.total = p.phase, p.done, p.total

        def run() -> None:
            try:
                report = _reindex(col, tick)
            except Exception as exc:
                job.state, job.error = "failed", str(exc)
            else:
                state.indexed.inc(report.indexed)
                job.state = "done"
                job.result = {
                    "indexed": report.indexed,
                    "unchanged": report.unchanged,
                    "removed": report.removed,
                    "skipped": len(report.skipped),
                    "seconds": round(report.seconds, 2),
                }

        threading.Thread(target=run, name=f"index-{job.id}", daemon=True).start()
        return job.to_dict()

    @app.get("/jobs/{job_id}")
    def job(job_id: str) -> dict[str, Any]:
        """A background job's progress and result."""
        found = state.jobs.get(job_id)
        if found is None:
            raise ApiError(404, f"no job {job_id!r}")
        return found.to_dict()

    @app.get("/collections/{name}/groups")
    def groups(name: str, mode: str = "duplicates", k: int | None = None) -> dict[str, Any]:
        """Duplicate tiers or content clusters, as ``lookalike group --json`` gives them."""
        from lookalike.grouping import find_clusters, find_duplicates

        col = state.collection(name)
        if mode == "duplicates":
            return find_duplicates(col).to_dict()
        if mode == "clusters":
            return find_clusters(col, k=k).to_dict()
        raise ApiError(400, "mode is duplicates or clusters")

    @app.get("/collections/{name}/thumbnail")
    def thumbnail(name: str, path: str, size: int = 256) -> Response:
        """A JPEG thumbnail of an image of the collection (cached)."""
        col = state.collection(name)
        found = _inside(col.root, path)
        size = max(16, min(1024, size))
        st = found.stat()
        key = hashlib.sha1(f"{found}|{st.st_mtime_ns}|{st.st_size}|{size}".encode()).hexdigest()
        cached = col.db / "thumbs" / f"{key}.jpg"
        if not cached.is_file():
            from lookalike.store import write_bytes_atomic

            buf = io.BytesIO()
            load_thumbnail(found, size).save(buf, "JPEG", quality=85)
            write_bytes_atomic(cached, buf.getvalue())
        return Response(cached.read_bytes(), media_type="image/jpeg")

    @app.get("/metrics")
    def metrics() -> Response:
        """Prometheus text format: requests, latencies, encoder queue, images indexed."""
        state.queue.set(sum(b.depth for b in state.batchers.values()))
        return Response(generate_latest(state.registry), media_type=CONTENT_TYPE_LATEST)

    return app


@dataclass
class SearchParams:
    """The query parameters every search takes."""

    k: int = DEFAULT_K
    metric: str = DEFAULT_METRIC
    model: str | None = None
    pooling: str | None = None
    rerank: bool = False
    precision: str | None = None  # fp32 or int8 vectors, where both exist

    def options(self) -> dict[str, Any]:
        """Keyword arguments of ``Collection.search``."""
        return asdict(self)


async def search_params(
    k: int = DEFAULT_K,
    metric: str = DEFAULT_METRIC,
    model: str | None = None,
    pooling: str | None = None,
    rerank: bool = False,
    precision: str | None = None,
) -> SearchParams:
    """The query parameters of a search. A coroutine, so FastAPI reads them on the event
    loop: a class as the dependency is called in a worker thread, one more thread hop per
    request."""
    return SearchParams(k, metric, model, pooling, rerank, precision)


async def _read_upload(request: Request, limit: int, limit_mb: float) -> tuple[bytes, str]:
    """The multipart field ``image``: its bytes (413 past the limit) and its file name."""
    form = await request.form()
    item = form.get("image")
    if item is None or isinstance(item, str):
        raise ApiError(400, "send the image in the multipart field 'image'")
    data = await item.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, f"upload over the limit of {limit_mb:g} MB")
    return data, item.filename or "image"


class Guard:
    """Every request: the token and upload-size checks before the app sees it, then one
    log line and the Prometheus counters after. A plain ASGI middleware: it passes the
    request through untouched (no per-request task group or streams)."""

    def __init__(self, app: ASGIApp, settings: Settings, state: State, limit: int) -> None:
        self.app, self.settings, self.state, self.limit = app, settings, state, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        request = Request(scope)
        status = 500  # unless the app answers: an exception escaped it

        async def sent(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        app = self.app
        try:
            self._check(request)
        except ApiError as exc:
            app = JSONResponse({"error": exc.message}, exc.status, headers=exc.headers)
        try:
            await app(scope, receive, sent)
        finally:
            self._record(scope, status, t0)

    def _check(self, request: Request) -> None:
        _authorise(request, self.settings)
        if request.method in ("POST", "PUT") and "/images" in request.url.path:
            size = request.headers.get("content-length")
            if size is not None and int(size) > self.limit + 65536:
                raise ApiError(413, f"upload over the limit of {self.settings.max_upload_mb:g} MB")

    def _record(self, scope: Scope, status: int, t0: float) -> None:
        ms = (time.perf_counter() - t0) * 1000
        method = scope["method"]
        log.info("%s %s %d %.1f ms", method, scope["path"], status, ms)
        name = getattr(scope.get("route"), "path", "other")
        self.state.requests.labels(method, name, str(status)).inc()
        self.state.latency.labels(name).observe(ms / 1000)


def _version() -> str:
    from lookalike import __version__

    return __version__


def _authorise(request: Request, settings: Settings) -> None:
    if settings.token is None:
        return
    given = request.headers.get("authorization", "")
    expected = f"Bearer {settings.token}"
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, "missing or wrong token", {"WWW-Authenticate": "Bearer"})


def _mutation(request: Request, settings: Settings) -> None:
    if settings.read_only:
        raise ApiError(403, "this server is read-only")
    if settings.token is None:
        raise ApiError(403, "changes need a token: start the server with LOOKALIKE_TOKEN set")


def _inside(root: Path, rel: str) -> Path:
    try:
        return inside(root, rel)
    except OutsideError:
        raise ApiError(404, f"no image {rel!r} in this collection") from None


async def _batched(batcher: LoopBatcher[Path, SearchResult], path: Path) -> SearchResult:
    """A path search answered with the others that arrive together, on the event loop."""
    try:
        return await asyncio.wait_for(batcher.submit(path), timeout=30)
    except QueueFullError:
        raise ApiError(429, "the server is busy; try again", {"Retry-After": "1"}) from None


def _search_upload(
    state: State, col: Collection, data: bytes, name: str, opts: dict[str, Any]
) -> SearchResult:
    vset = col.vectors_set(
        model=opts["model"], pooling=opts["pooling"], precision=opts["precision"]
    )
    encoder = col.encoder_for(vset)
    pixels = decode_bytes(data, size=encoder.preprocess.size, name=name).pixels
    batcher = state.batcher(col, vset.key)
    try:
        vector = batcher.encode(pixels)
    except QueueFullError:
        raise ApiError(429, "the encoder is busy; try again", {"Retry-After": "1"}) from None
    return col.search(vector, key=vset.key, **{k: opts[k] for k in ("k", "metric", "rerank")})


def _reindex(col: Collection, progress: Callable[[Progress], None] | None = None) -> IndexReport:
    """An incremental index run with the encoder of the collection's default vector set
    (the default encoder when it has none yet), so the server never adds another set."""
    try:
        encoder = col.encoder_for(col.vectors_set())
    except NotIndexedError:
        return col.index(progress=progress)
    return col.index(encoder, progress=progress)


def _add_image(state: State, col: Collection, data: bytes, filename: str) -> dict[str, Any]:
    decode_bytes(data, size=32, name=filename)  # refuse what is not a readable image first
    from lookalike.store import write_bytes_atomic

    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in Path(filename).stem)[:60]
    suffix = "".join(c for c in Path(filename).suffix.lower() if c.isalnum() or c == ".")[:8]
    digest = hashlib.sha256(data).hexdigest()[:12]
    rel = f"{UPLOADS}/{stem or 'image'}-{digest}{suffix or '.img'}"
    target = col.root / rel
    if not target.exists():
        write_bytes_atomic(target, data)
    report = _reindex(col)
    state.indexed.inc(report.indexed)
    return {"path": rel, "indexed": report.indexed}
