"""The index-backend registry: ``create_index(kind, dim, metric, **opts)``.

Built-ins register through the ``lookalike.indexes`` entry-point group, like plugins.
"""

from __future__ import annotations

from collections.abc import Callable
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
