"""The local engine: decode files and encode them, in parallel threads, in batches.

Each worker thread takes a batch of files, decodes them (Pillow releases the GIL) and
runs the encoder on them (ONNX Runtime and PyTorch release it too), so N workers keep N
cores busy with no hand-off between a decode pool and a model thread. Results come back
as they complete.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from upath import UPath

from lookalike.config import default_workers
from lookalike.encoders.base import Encoder
from lookalike.errors import ImageDecodeError
from lookalike.imageio import FileEntry, read_image
from lookalike.store.catalog import FileRecord


@dataclass(frozen=True)
class EmbeddedBatch:
    """One finished batch: a record per file, and the vectors of the ok ones in order."""

    records: list[FileRecord]
    vectors: NDArray[np.float32]


def embed_batch(
    root: Path | UPath, entries: Sequence[FileEntry], encoder: Encoder
) -> EmbeddedBatch:
    """Decode and encode one batch; unreadable files become records with a reason."""
    records: list[FileRecord] = []
    pixels: list[NDArray[np.uint8]] = []
    size = encoder.preprocess.size
    for e in entries:
        try:
            img = read_image(root / e.relpath, size=size)
        except ImageDecodeError as exc:
            records.append(FileRecord(e.relpath, e.size, e.mtime_ns, error=exc.reason))
            continue
        records.append(
            FileRecord(e.relpath, e.size, e.mtime_ns, img.sha256, img.width, img.height, img.format)
        )
        pixels.append(img.pixels)
    if pixels:
        vectors = encoder.encode(np.stack(pixels), batch_size=max(1, len(pixels)))
    else:
        vectors = np.zeros((0, encoder.dim), dtype=np.float32)
    return EmbeddedBatch(records, vectors)


class LocalEngine:
    """Embeds in this process: ``workers`` threads, each decoding and encoding a batch."""

    name = "local"

    def stream(
        self,
        root: Path | UPath,
        entries: Sequence[FileEntry],
        encoder: Encoder,
        *,
        batch_size: int = 32,
        workers: int | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Generator[EmbeddedBatch, None, None]:
        """Yield embedded batches as they finish. ``workers=0`` runs in the calling thread.

        At most ``2 * workers`` batches are in flight, so memory stays bounded however
        large the collection. Closing the generator (or ``should_stop()``) cancels what has
        not begun.
        """
        batches = [entries[i : i + batch_size] for i in range(0, len(entries), batch_size)]
        n = default_workers() if workers is None else int(workers)
        if n <= 0:
            for b in batches:
                if should_stop and should_stop():
                    return
                yield embed_batch(root, b, encoder)
            return
        pending: set[Future[EmbeddedBatch]] = set()
        todo = iter(batches)
        pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="lookalike-embed")
        try:
            for b in todo:
                pending.add(pool.submit(embed_batch, root, b, encoder))
                if len(pending) >= 2 * n:
                    break
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
                if should_stop and should_stop():
                    break
                for b in todo:
                    pending.add(pool.submit(embed_batch, root, b, encoder))
                    if len(pending) >= 2 * n:
                        break
        finally:
            for fut in pending:
                fut.cancel()
            pool.shutdown(wait=True, cancel_futures=True)

    def describe(self) -> str:
        """The engine in words."""
        return "local threads"

    def close(self) -> None:
        """Nothing to release."""
