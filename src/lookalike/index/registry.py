"""One registry for index backends (``create_index``, ``list_indexes``); built-ins
register through the ``lookalike.indexes`` entry-point group like plugins do."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from lookalike.errors import UnknownIndexError
from lookalike.index.base import VectorIndex

ENTRY_POINT_GROUP = "lookalike.indexes"

IndexFactory = Callable[..., VectorIndex]

_FACTORIES: dict[str, tuple[IndexFactory, str]] = {}
_loaded = False


def register_index(
    kind: str, factory: IndexFactory, *, description: str = "", replace: bool = False
) -> None:
    """Make ``factory(dim, metric, **opts)`` available as ``create_index(kind, ...)``."""
    if kind in _FACTORIES and not replace:
        raise ValueError(f"an index backend named {kind!r} is already registered")
    _FACTORIES[kind] = (factory, description)


def _load_plugins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        ep.load()()
    if not _FACTORIES:  # a source tree that was never installed
        from lookalike.index import builtin

        builtin.register()


def list_indexes() -> dict[str, str]:
    """Registered backends and their one-line descriptions."""
    _load_plugins()
    return {k: d for k, (_, d) in sorted(_FACTORIES.items())}


def create_index(kind: str, dim: int, metric: str, **opts: Any) -> VectorIndex:
    """Build an empty index of the given kind."""
    _load_plugins()
    try:
        factory, _ = _FACTORIES[kind]
    except KeyError:
        known = ", ".join(sorted(_FACTORIES)) or "none"
        raise UnknownIndexError(f"unknown index kind {kind!r} (known: {known})") from None
    return factory(dim, metric, **opts)
