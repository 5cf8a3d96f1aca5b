"""Where lookalike keeps its files, and the defaults shared by the CLI and the API."""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable naming the cache folder (exported models and the sample collection).
HOME_ENV = "LOOKALIKE_HOME"

#: Folder inside an indexed collection that holds its catalogue and vectors.
DB_DIRNAME = ".lookalike"

DEFAULT_ENCODER = "efficientnet-lite0"
DEFAULT_K = 8
DEFAULT_METRIC = "cosine"
METRICS = ("cosine", "euclidean")
#: Ways to turn a feature map into a vector. ``multi`` joins three depths of the network
#: and ``layout`` two earlier depths on a 3x3 grid (EfficientNet encoders only; ``layout``
#: is what metric heads learn from); ``flatten`` and ``max`` are the origin report's two.
POOLINGS = ("multi", "avg", "max", "flatten", "layout")
DEFAULT_POOLING = "multi"

#: How ``lookalike ui`` tells the web app (a separate Streamlit process) which folders it
#: may open and the largest upload it takes.
UI_ROOTS_ENV = "LOOKALIKE_UI_ROOTS"
UI_UPLOAD_LIMIT_ENV = "LOOKALIKE_UI_UPLOAD_MB"
UI_DEFAULT_UPLOAD_MB = 20


def cache_dir() -> Path:
    """The user's cache folder: ``$LOOKALIKE_HOME``, else ``$XDG_CACHE_HOME/lookalike``."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "lookalike"


def default_workers() -> int:
    """One worker per usable core (the cores this process may run on)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


#: Environment variable holding a Milvus server token (never saved).
MILVUS_TOKEN_ENV = "LOOKALIKE_MILVUS_TOKEN"

#: ``LOOKALIKE_DEBUG=1`` lets libraries' own warnings and logs through.
DEBUG_ENV = "LOOKALIKE_DEBUG"


def debug() -> bool:
    """Whether the user asked to see libraries' own warnings and logs."""
    import os

    return os.environ.get(DEBUG_ENV, "") not in ("", "0")
