"""The parts a collection is made of, and the one place where the default ones are built.

``Collection.open(dir)`` wires the defaults; a test or an application may hand a
``Collection`` its own parts instead (an in-memory catalogue, a fake encoder factory).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lookalike.core.search_indexes import SearchIndexes
from lookalike.encoders import Encoder, create_encoder
from lookalike.errors import EncoderMismatchError
from lookalike.store import Catalog, VectorSetRow, VectorStore

CATALOG_FILE = "catalog.db"


class EncoderCache:
    """The encoder of each vector set, built once from the set's stored name and options,
    and refused when the installed encoder would make other vectors."""

    def __init__(self, root: Path, factory: Callable[..., Encoder] = create_encoder) -> None:
        self.root = root
        self._factory = factory
        self._built: dict[str, Encoder] = {}

    def get(self, vset: VectorSetRow) -> Encoder:
        """The encoder that made ``vset``."""
        enc = self._built.get(vset.key)
        if enc is None:
            enc = self._factory(vset.encoder, **vset.options)
            if enc.key != vset.key:
                raise EncoderMismatchError(
                    f"vectors were made by {vset.key}, but the installed encoder is {enc.key}; "
                    f"re-run: lookalike index {self.root} --model {vset.encoder}"
                )
            self._built[vset.key] = enc
        return enc

    def close(self) -> None:
        """Release every built encoder."""
        for enc in self._built.values():
            enc.close()
        self._built.clear()


@dataclass
class Parts:
    """What a collection composes. ``catalog`` opens lazily (from ``open_catalog``) so
    that opening a collection writes nothing."""

    store: VectorStore
    indexes: SearchIndexes
    encoders: EncoderCache
    open_catalog: Callable[[], Catalog]


def default_parts(root: Path, db: Path) -> Parts:
    """The embedded default: SQLite catalogue and ``.npy`` shards under ``db``."""
    store = VectorStore(db / "vectors")
    return Parts(
        store=store,
        indexes=SearchIndexes(root, db, store),
        encoders=EncoderCache(root),
        open_catalog=lambda: Catalog(db / CATALOG_FILE),
    )
