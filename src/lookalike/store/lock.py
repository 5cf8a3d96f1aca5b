"""One writer at a time per collection: an advisory file lock beside the catalogue."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from lookalike.errors import CollectionBusyError


@contextlib.contextmanager
def writer_lock(db: Path, what: str) -> Iterator[None]:
    """Hold ``db/lock`` for the block; another holder makes it fail at once with
    :class:`CollectionBusyError` naming ``what`` (never a wait that looks like a hang)."""
    db.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(db / "lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CollectionBusyError(f"another lookalike process is indexing {what}") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
