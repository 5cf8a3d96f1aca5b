"""A file found in a collection: what the listing tells before anything is read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FileEntry:
    """One file found under a collection root; ``error`` is set when it could not be stat'ed."""

    relpath: str
    size: int
    mtime_ns: int
    error: str | None = None
