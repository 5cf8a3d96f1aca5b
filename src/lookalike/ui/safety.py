"""Which folders the web UI may open: only those under the roots given on the command line.
Relative escapes (``..``), absolute paths elsewhere and symbolic links out are refused."""

from __future__ import annotations

import json
import os
from pathlib import Path

from lookalike.config import UI_DEFAULT_UPLOAD_MB as DEFAULT_UPLOAD_MB
from lookalike.config import UI_ROOTS_ENV as ROOTS_ENV
from lookalike.config import UI_UPLOAD_LIMIT_ENV as UPLOAD_LIMIT_ENV
from lookalike.errors import LookalikeError

__all__ = ["DEFAULT_UPLOAD_MB", "ROOTS_ENV", "UPLOAD_LIMIT_ENV", "PathNotAllowedError"]


class PathNotAllowedError(LookalikeError):
    """A path outside the folders the UI was started on."""


def roots() -> list[Path]:
    """The allowed roots (resolved), from the environment the ``ui`` command sets."""
    raw = os.environ.get(ROOTS_ENV, "[]")
    return [Path(p).expanduser().resolve() for p in json.loads(raw)]


def upload_limit() -> int:
    """Largest accepted upload, in bytes."""
    return int(float(os.environ.get(UPLOAD_LIMIT_ENV, DEFAULT_UPLOAD_MB)) * 1024 * 1024)


def resolve_allowed(path: str | Path, allowed: list[Path] | None = None) -> Path:
    """``path`` (relative to the first root, or absolute) if it lies under a root after
    resolving ``..`` and symbolic links; otherwise :class:`PathNotAllowedError`."""
    allowed = roots() if allowed is None else allowed
    if not allowed:
        raise PathNotAllowedError("the UI was started without folders to open")
    p = Path(path).expanduser()
    candidate = (p if p.is_absolute() else allowed[0] / p).resolve()
    for root in allowed:
        if candidate == root or root in candidate.parents:
            return candidate
    raise PathNotAllowedError(f"{path} is outside the folders this UI may open")
