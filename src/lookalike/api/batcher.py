"""Dynamic micro-batching: requests that arrive together share one call.

Requests put their item on a bounded queue and wait; one worker thread takes the first
waiting request, gathers whoever else arrives within ``wait_ms`` (up to ``max_batch``;
no wait when it is alone and the last batch was too: a single client is not delayed),
runs ``process`` on them together and hands each its result. With ``workers`` threads,
that many batches run at once (an encoder with one thread per call then keeps every core
busy, as the index run's workers do). Two uses: upload searches
share one encoder call, and path searches share one index search (a flat scan reads the
stored vectors once for all of them). A full queue is refused at once (the API answers
429 with Retry-After): never an unbounded queue.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from lookalike.config import default_workers
from lookalike.encoders import Encoder

T = TypeVar("T")
R = TypeVar("R")


class QueueFullError(Exception):
    """The queue is full: try again shortly."""


class MicroBatcher(Generic[T, R]):
    """Batches calls of ``process`` (a list of items in, a list of results out)."""

    def __init__(
        self,
        process: Callable[[list[T]], Sequence[R]],
        *,
        max_batch: int = 16,
        wait_ms: float = 4.0,
        limit: int = 64,
        name: str = "lookalike-batcher",
        workers: int = 1,
    ) -> None:
        self.process = process
        self.max_batch, self.wait = max_batch, wait_ms / 1000
        self._queue: queue.Queue[tuple[T, Future[R]]] = queue.Queue(maxsize=limit)
        self.batches = 0
        self._threads = [
            threading.Thread(target=self._run, name=f"{name}-{i}", daemon=True)
            for i in range(max(1, workers))
        ]
        for t in self._threads:
            t.start()

    @property
    def depth(self) -> int:
        """Requests waiting."""
        return self._queue.qsize()

    def submit(self, item: T, timeout: float = 30.0) -> R:
        """The result for one item, computed with whoever else is waiting."""
        return self.enqueue(item).result(timeout=timeout)

    def enqueue(self, item: T) -> Future[R]:
        """Queue one item and return the future of its result at once (an event loop
        awaits it without tying up a thread)."""
        done: Future[R] = Future()
        try:
            self._queue.put_nowait((item, done))
        except queue.Full:
            raise QueueFullError from None
        return done

    def _run(self) -> None:
        last = 1
        while True:
            batch = [self._queue.get()]
            # Wait for companions only under load (others queued, or the last batch was
            # shared): a lone client's request goes at once instead of idling ``wait_ms``.
            wait = self.wait if (last > 1 or not self._queue.empty()) else 0.0
            deadline = time.perf_counter() + wait
            while len(batch) < self.max_batch:
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                try:
                    batch.append(self._queue.get(timeout=left))
                except queue.Empty:
                    break
            last = len(batch)
            try:
                results = self.process([item for item, _ in batch])
            except Exception as exc:  # every waiting request hears of it
                for _, done in batch:
                    done.set_exception(exc)
            else:
                self.batches += 1
                for (_, done), result in zip(batch, results, strict=True):
                    done.set_result(result)


class Batcher(MicroBatcher[NDArray[np.uint8], NDArray[np.float32]]):
    """Batches encode requests for one encoder."""

    def __init__(self, encoder: Encoder, *, workers: int | None = None, **kw: Any) -> None:
        self.encoder = encoder
        super().__init__(
            lambda pixels: list(encoder.encode(np.stack(pixels))),
            name="lookalike-encoder",
            workers=default_workers() if workers is None else workers,
            **kw,
        )

    def encode(self, pixels: NDArray[np.uint8], timeout: float = 30.0) -> NDArray[np.float32]:
        """The vector of one (H, W, 3) image, encoded with whoever else is waiting."""
        return self.submit(pixels, timeout)
