"""The engine registry: ``create_engine(name, **options)``.

Built-ins register through the ``lookalike.engines`` entry-point group, like plugins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lookalike.engines.base import Engine
from lookalike.errors import InvalidOptionError
from lookalike.registry import Registry

ENGINES: Registry[Engine] = Registry(
    "engine", "lookalike.engines", "lookalike.engines.builtin", InvalidOptionError
)


def register_engine(
    name: str, factory: Callable[..., Engine], *, description: str = "", replace: bool = False
) -> None:
    """Make ``factory(**options)`` available as ``--engine NAME``."""
    ENGINES.register(name, factory, description=description, replace=replace)


def list_engines() -> dict[str, str]:
    """Registered engines and their one-line descriptions."""
    return {e.name: e.description for e in ENGINES.entries()}


def create_engine(name: str, **options: Any) -> Engine:
    """Build the engine registered as ``name``."""
    return ENGINES.create(name, **options)
