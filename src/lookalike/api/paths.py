"""Paths a client names, resolved inside one collection or refused (never served)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from lookalike.config import DB_DIRNAME


class OutsideError(Exception):
    """A path that is not a file of the collection (answered 404, like a missing one)."""


def inside(root: Path, rel: str) -> Path:
    """The file ``rel`` (relative to ``root``, a resolved folder: ``Collection.open``
    resolves it) names. Refused: empty, absolute, ``..``, the database folder, symbolic
    links that leave the folder, and anything not a file."""
    if not rel or rel.startswith(("/", "\\")) or ":" in rel.split("/", 1)[0]:
        raise OutsideError(rel)
    parts = PurePosixPath(rel.replace("\\", "/")).parts
    if ".." in parts or DB_DIRNAME in parts or any(p.startswith(".") for p in parts):
        raise OutsideError(rel)
    base = root
    real = (base / Path(*parts)).resolve()
    if not real.is_relative_to(base) or not real.is_file():
        raise OutsideError(rel)
    return real
