"""Dynamic micro-batching: concurrent upload searches share one encoder call.

Requests put their pixels on a bounded queue and wait; one worker thread per encoder takes
the first waiting request, gathers whoever else arrives within ``wait_ms`` (up to
``max_batch``), encodes them together and hands each its vector. A full queue is refused
at once (the API answers 429 with Retry-After): never an unbounded queue.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future

import numpy as np
from numpy.typing import NDArray

from lookalike.encoders import Encoder


class QueueFullError(Exception):
    """The encoder's queue is full: try again shortly."""


class Batcher:
    """Batches encode requests for one encoder."""

    def __init__(
        self, encoder: Encoder, *, max_batch: int = 16, wait_ms: float = 4.0, limit: int = 64
    ) -> None:
        self.encoder = encoder
        self.max_batch, self.wait = max_batch, wait_ms / 1000
        self._queue: queue.Queue[tuple[NDArray[np.uint8], Future[NDArray[np.float32]]]] = (
            queue.Queue(maxsize=limit)
        )
        self.batches = 0
        self._thread = threading.Thread(target=self._run, name="lookalike-encoder", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        """Requests waiting."""
        return self._queue.qsize()

    def encode(self, pixels: NDArray[np.uint8], timeout: float = 30.0) -> NDArray[np.float32]:
        """The vector of one (H, W, 3) image, encoded with whoever else is waiting."""
        done: Future[NDArray[np.float32]] = Future()
        try:
            self._queue.put_nowait((pixels, done))
        except queue.Full:
            raise QueueFullError from None
        return done.result(timeout=timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            batch = [first]
            deadline = time.perf_counter() + self.wait
            while len(batch) < self.max_batch:
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                try:
                    batch.append(self._queue.get(timeout=left))
                except queue.Empty:
                    break
            try:
                vectors = self.encoder.encode(np.stack([p for p, _ in batch]))
            except Exception as exc:  # every waiting request hears of it
                for _, done in batch:
                    done.set_exception(exc)
            else:
                self.batches += 1
                for (_, done), v in zip(batch, vectors, strict=True):
                    done.set_result(v)
