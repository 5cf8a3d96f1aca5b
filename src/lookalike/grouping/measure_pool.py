"""Measuring many pairs in worker processes.

A verdict is mostly Python and NumPy work between OpenCV calls, so threads share one
interpreter lock and two of them run a little over one. Worker processes each have
their own. They are started fresh (``spawn``), never forked from a process that may be
serving the API or the web UI from other threads, and they map the fingerprints' pixels
from one file in memory (``/dev/shm`` where it has room) rather than receive them: a
pair costs two ids to send and its signals to return.

As with any use of Python's processes other than ``fork``, a script that groups at
import time needs the ``if __name__ == "__main__":`` guard: without it the workers
cannot start, and the pairs are measured in threads (with a warning).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from lookalike.grouping.verify import Fingerprint, PairSignals, compare

#: A pair to measure: (first id, second id, cosine, same framing only), the first id the
#: picture it is measured from.
Task = tuple[int, int, float, bool]
#: Where one fingerprint's pixels lie in the block: (offset, height, width), then the
#: file's width and height and the trimmed box.
Place = tuple[int, int, int, int, int, tuple[int, int, int, int]]

#: Pairs per task sent to a worker: enough that sending costs nothing, few enough that
#: both workers stay busy to the end and progress moves.
CHUNK = 128
#: Fewer pairs than this are measured in threads: starting processes costs about a second.
MIN_PAIRS = 2000
#: The files of a :class:`PrintBlock`: the pixels, and where each fingerprint's lie.
PIXELS, PLACES = "pixels.npy", "places.npy"
#: The name a :class:`PrintBlock`'s folder starts with, followed by its process id.
PREFIX = "lookalike-prints-"


@dataclass
class PrintBlock:
    """Fingerprints' pixels written once to a file that worker processes map read-only,
    and where each lies (:data:`Place`) in a second file beside it. Workers get the
    folder's name only: a worker's start data must fit in a pipe (64 KB). A worker that
    dies before reading it all (a script that groups at import time, without the main
    guard) would otherwise leave the parent waiting forever to write the rest, as Python
    keeps the pipe's other end open until the write returns."""

    folder: Path

    @classmethod
    def write(cls, prints: dict[int, Fingerprint]) -> PrintBlock:
        """Write ``prints`` (uint8 pixels, one after another) to a new temporary folder."""
        places: dict[int, Place] = {}
        offset = 0
        for i, fp in prints.items():
            h, w = fp.pixels.shape[:2]
            places[i] = (offset, h, w, fp.width, fp.height, fp.box)
            offset += h * w * 3
        scratch = _scratch(offset)
        _sweep(Path(scratch or tempfile.gettempdir()))
        folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=scratch))
        block = np.lib.format.open_memmap(folder / PIXELS, "w+", np.uint8, (max(1, offset),))
        for i, fp in prints.items():
            start, h, w = places[i][:3]
            block[start : start + h * w * 3] = fp.pixels.reshape(-1)
        block.flush()
        del block
        table = [(i, *place[:5], *place[5]) for i, place in places.items()]
        np.save(folder / PLACES, np.array(table, np.int64).reshape(-1, 10))
        return cls(folder)

    def close(self) -> None:
        """Delete the files (the workers have stopped)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def _sweep(scratch: Path) -> None:
    """Delete the blocks that runs killed before they could (``kill -9``, the
    out-of-memory killer: in ``/dev/shm`` such a block holds memory until the machine
    restarts): those whose process, named in the folder's name, is gone."""
    for folder in scratch.glob(f"{PREFIX}*-*"):
        pid = folder.name[len(PREFIX) :].split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (PermissionError, OverflowError):  # alive, another user's; or no pid
            continue


def _scratch(size: int) -> str | None:
    """A folder in memory (``/dev/shm``) where it has room for ``size`` bytes and more;
    else the system's temporary folder (None)."""
    try:
        st = os.statvfs("/dev/shm")
    except OSError:
        return None
    return "/dev/shm" if st.f_bavail * st.f_frsize > 2 * size + (256 << 20) else None


# the worker's state: its fingerprints, made from the mapped block on first use
_block: NDArray[np.uint8] | None = None
_places: dict[int, Place] = {}
_prints: dict[int, Fingerprint] = {}


def _start(folder: str) -> None:
    global _block, _places
    import cv2

    cv2.setNumThreads(1)  # one process per core already
    _block = np.load(Path(folder) / PIXELS, mmap_mode="r")
    table = np.load(Path(folder) / PLACES).tolist()
    _places = {i: (o, h, w, width, height, (t, lft, bh, bw))
               for i, o, h, w, width, height, t, lft, bh, bw in table}  # fmt: skip
    _prints.clear()


def _print(i: int) -> Fingerprint:
    fp = _prints.get(i)
    if fp is None:
        assert _block is not None
        start, h, w, width, height, box = _places[i]
        pixels = _block[start : start + h * w * 3].reshape(h, w, 3)
        fp = _prints[i] = Fingerprint(width, height, pixels, box)
    return fp


def _measure(tasks: list[Task]) -> list[PairSignals]:
    return [compare(_print(a), _print(b), c, framed=f) for a, b, c, f in tasks]


def measure_in_processes(
    prints: dict[int, Fingerprint], tasks: Sequence[Task], workers: int
) -> Iterator[PairSignals]:
    """The signals of ``tasks`` in order, measured by ``workers`` processes, each
    chunk's as soon as it is done (the caller reports progress)."""
    ids = {i for a, b, _, _ in tasks for i in (a, b)}
    block = PrintBlock.write({i: prints[i] for i in ids})
    try:
        pool = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start,
            initargs=(str(block.folder),),
        )  # fmt: skip
        try:
            chunks = [list(tasks[k : k + CHUNK]) for k in range(0, len(tasks), CHUNK)]
            for got in pool.map(_measure, chunks):
                yield from got
        finally:
            # interrupted (Ctrl-C, or the caller stopped): the chunks not yet started are
            # dropped, so the run ends once the two under way do, not after all of them
            pool.shutdown(wait=True, cancel_futures=True)
    finally:
        block.close()
