"""The one registry mechanism behind every pluggable kind (encoders, index backends).

Built-ins register through the same entry-point group as third-party plugins: each entry
point names a callable that calls ``register``. Plugins load on first use.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from lookalike.errors import InvalidOptionError, LookalikeError

T = TypeVar("T")


@dataclass(frozen=True)
class RegistryEntry:
    """One registered name: its one-line description, and whether it is the default."""

    name: str
    description: str
    default: bool = False


class Registry(Generic[T]):
    """Names to factories for one pluggable kind."""

    def __init__(self, kind: str, group: str, builtin: str, error: type[LookalikeError]) -> None:
        self.kind = kind
        self.group = group
        self._builtin = builtin
        self._error = error
        self._factories: dict[str, tuple[Callable[..., T], RegistryEntry]] = {}
        self._loaded = False

    def register(
        self,
        name: str,
        factory: Callable[..., T],
        *,
        description: str = "",
        default: bool = False,
        replace: bool = False,
    ) -> None:
        """Make ``factory`` available under ``name``."""
        if name in self._factories and not replace:
            raise InvalidOptionError(f"an {self.kind} named {name!r} is already registered")
        self._factories[name] = (factory, RegistryEntry(name, description, default))

    def unregister(self, name: str) -> None:
        """Remove a name (tests, and plugins that replace one)."""
        self._factories.pop(name, None)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for ep in entry_points(group=self.group):
            ep.load()()
        if not self._factories:  # running from a source tree that was never installed
            importlib.import_module(self._builtin).register()

    def factory(self, name: str) -> Callable[..., T]:
        """The factory registered as ``name`` (a typed error names the known ones)."""
        self._load()
        try:
            return self._factories[name][0]
        except KeyError:
            known = ", ".join(sorted(self._factories)) or "none"
            raise self._error(f"unknown {self.kind} {name!r} (known: {known})") from None

    def entries(self) -> list[RegistryEntry]:
        """Every registered name, sorted."""
        self._load()
        return sorted((e for _, e in self._factories.values()), key=lambda e: e.name)

    def create(self, name: str, *args: Any, **options: Any) -> T:
        """Build the thing registered as ``name``; a typed error names the known ones."""
        factory = self.factory(name)
        try:
            inspect.signature(factory).bind(*args, **options)
        except TypeError as exc:
            raise InvalidOptionError(
                f"{self.kind} {name!r} does not take these options: {exc}"
            ) from None
        return factory(*args, **options)
