"""What an embedding engine does."""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from upath import UPath

from lookalike.encoders.base import Encoder
from lookalike.imageio import FileEntry

if TYPE_CHECKING:
    from lookalike.engines.local import EmbeddedBatch


class Engine(Protocol):
    """Turns files into embedded batches; the index run writes what it yields."""

    name: str

    def stream(
        self,
        root: Path | UPath,
        entries: Sequence[FileEntry],
        encoder: Encoder,
        *,
        batch_size: int = 32,
        workers: int | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Generator[EmbeddedBatch, None, None]:
        """Embedded batches (a record per file, vectors of the readable ones), in any
        order; closing the iterator stops the work that has not begun."""
        ...

    def describe(self) -> str:
        """The engine and where it runs, in words."""
        ...

    def close(self) -> None:
        """Release what the engine started (a local Ray it began)."""
        ...
