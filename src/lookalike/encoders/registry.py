"""The encoder registry: ``create_encoder(name, **options)`` and ``list_encoders()``.

Built-ins register through the ``lookalike.encoders`` entry-point group, like plugins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lookalike.encoders.base import Encoder
from lookalike.errors import UnknownEncoderError
from lookalike.registry import Registry, RegistryEntry

EncoderInfo = RegistryEntry
EncoderFactory = Callable[..., Encoder]

ENCODERS: Registry[Encoder] = Registry(
    "encoder", "lookalike.encoders", "lookalike.encoders.builtin", UnknownEncoderError
)


def register_encoder(
    name: str,
    factory: EncoderFactory,
    *,
    description: str = "",
    default: bool = False,
    replace: bool = False,
) -> None:
    """Make ``factory(**options)`` available as ``create_encoder(name, **options)``."""
    ENCODERS.register(name, factory, description=description, default=default, replace=replace)


def unregister_encoder(name: str) -> None:
    """Remove an encoder (tests and plugins that replace one)."""
    ENCODERS.unregister(name)


def list_encoders() -> list[EncoderInfo]:
    """Every registered encoder, sorted by name."""
    return ENCODERS.entries()


def create_encoder(name: str, **options: Any) -> Encoder:
    """Build the encoder registered as ``name``; options go to its factory."""
    return ENCODERS.create(name, **options)
