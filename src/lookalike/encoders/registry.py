"""One registry for encoders. Built-ins register through the same entry-point group
(``lookalike.encoders``) as third-party plugins: each entry point is a callable that
calls :func:`register_encoder`."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from lookalike.encoders.base import Encoder
from lookalike.errors import UnknownEncoderError

ENTRY_POINT_GROUP = "lookalike.encoders"

EncoderFactory = Callable[..., Encoder]


@dataclass(frozen=True)
class EncoderInfo:
    """What ``list_encoders`` tells about one registered encoder."""

    name: str
    description: str
    default: bool = False


_FACTORIES: dict[str, tuple[EncoderFactory, EncoderInfo]] = {}
_loaded = False


def register_encoder(
    name: str,
    factory: EncoderFactory,
    *,
    description: str = "",
    default: bool = False,
    replace: bool = False,
) -> None:
    """Make ``factory(**options)`` available as ``create_encoder(name, **options)``."""
    if name in _FACTORIES and not replace:
        raise ValueError(f"an encoder named {name!r} is already registered")
    _FACTORIES[name] = (factory, EncoderInfo(name, description, default))


def unregister_encoder(name: str) -> None:
    """Remove an encoder (tests and plugins that replace one)."""
    _FACTORIES.pop(name, None)


def _load_plugins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        ep.load()()
    if not _FACTORIES:  # running from a source tree that was never installed
        from lookalike.encoders import builtin

        builtin.register()


def list_encoders() -> list[EncoderInfo]:
    """Every registered encoder, sorted by name."""
    _load_plugins()
    return [info for _, info in sorted(_FACTORIES.values(), key=lambda fi: fi[1].name)]


def create_encoder(name: str, **options: Any) -> Encoder:
    """Build the encoder registered as ``name``; options go to its factory."""
    _load_plugins()
    try:
        factory, _ = _FACTORIES[name]
    except KeyError:
        known = ", ".join(sorted(_FACTORIES)) or "none"
        raise UnknownEncoderError(f"unknown encoder {name!r} (known: {known})") from None
    try:
        inspect.signature(factory).bind(**options)
    except TypeError as exc:
        raise UnknownEncoderError(f"encoder {name!r} does not take these options: {exc}") from None
    return factory(**options)
