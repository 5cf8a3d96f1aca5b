"""Atomic file writes: a temp file in the same folder, fsync, then rename over the target."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np


def write_atomic(target: Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(fh)`` on a temp file, then move it over ``target`` in one step.

    A crash at any moment leaves either the old file or the new one, never a torn one.
    The file gets the permissions a plain ``open`` would give (the temp file's 0600 would
    hide reports and pictures from other users of the folder).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target


def _umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back;
    done once, at import, before any thread writes files)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()


def save_npy_atomic(target: Path, array: np.ndarray) -> Path:
    """Save one array as ``.npy``, atomically."""
    return write_atomic(target, lambda fh: np.save(fh, array, allow_pickle=False))


def write_bytes_atomic(target: Path, data: bytes) -> Path:
    """Write bytes to ``target``, atomically."""
    return write_atomic(target, lambda fh: fh.write(data))
