"""Paths a client names, resolved inside one collection or refused (never served)."""

from __future__ import annotations

import stat
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
    if not parts or ".." in parts or DB_DIRNAME in parts or any(p.startswith(".") for p in parts):
        raise OutsideError(rel)
    # The common case, no symbolic link on the way, takes one lstat per part below the
    # root (a full resolve walks every part of the absolute path, on every request).
    here = root
    for k, part in enumerate(parts):
        here = here / part
        try:
            mode = here.lstat().st_mode
        except OSError:
            raise OutsideError(rel) from None
        if stat.S_ISLNK(mode):
            real = here.joinpath(*parts[k + 1 :]).resolve()
            if not real.is_relative_to(root) or not real.is_file():
                raise OutsideError(rel)
            return real
    if not stat.S_ISREG(mode):
        raise OutsideError(rel)
    return here
