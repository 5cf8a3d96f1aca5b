"""The built-in engines, registered through the entry point like any plugin."""

from __future__ import annotations

from typing import Any

from lookalike.engines.base import Engine
from lookalike.engines.registry import register_engine


def _local() -> Engine:
    from lookalike.engines.local import LocalEngine

    return LocalEngine()


def _ray(address: str | None = None, **options: Any) -> Engine:
    from lookalike.engines.ray import RayEngine

    return RayEngine(address, **options)


def register() -> None:
    """Register ``local`` and ``ray``."""
    register_engine("local", _local, description="threads in this process", replace=True)
    register_engine(
        "ray",
        _ray,
        description="Ray Data stages on a local Ray or a cluster (pip install 'lookalike[ray]')",
        replace=True,
    )
