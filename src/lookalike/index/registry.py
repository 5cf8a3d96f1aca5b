"""The index-backend registry: ``create_index(kind, dim, metric, **opts)``.

Built-ins register through the ``lookalike.indexes`` entry-point group, like plugins.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lookalike.errors import UnknownIndexError
from lookalike.index.base import VectorIndex
from lookalike.registry import Registry

IndexFactory = Callable[..., VectorIndex]

INDEXES: Registry[VectorIndex] = Registry(
    "index kind", "lookalike.indexes", "lookalike.index.builtin", UnknownIndexError
)


def register_index(
    kind: str, factory: IndexFactory, *, description: str = "", replace: bool = False
) -> None:
    """Make ``factory(dim, metric, **opts)`` available as ``create_index(kind, ...)``."""
    INDEXES.register(kind, factory, description=description, replace=replace)


def list_indexes() -> dict[str, str]:
    """Registered backends and their one-line descriptions."""
    return {e.name: e.description for e in INDEXES.entries()}


def create_index(kind: str, dim: int, metric: str, **opts: Any) -> VectorIndex:
    """Build an empty index of the given kind."""
    return INDEXES.create(kind, dim, metric, **opts)


def load_index(folder: str | Path) -> VectorIndex:
    """Read an index written by :meth:`VectorIndex.save`, whatever its kind."""
    folder = Path(folder)
    meta = json.loads((folder / "index.json").read_text())
    index = create_index(meta["kind"], meta["dim"], meta["metric"], **meta["params"])
    index.restore(folder)
    return index


def scoped_defaults(kind: str, scope: str) -> dict[str, Any]:
    """The options backend ``kind`` derives from a vector set's scope (see
    :meth:`VectorIndex.scoped_defaults`); empty for backends without any."""
    factory = INDEXES.factory(kind)
    hook = getattr(factory, "scoped_defaults", None)
    return dict(hook(scope)) if callable(hook) else {}
