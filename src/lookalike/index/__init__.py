"""Index backends behind one registry: ``create_index(kind, dim, metric)``."""

from lookalike.index.base import Hits, VectorIndex, normalize
from lookalike.index.registry import (
    create_index,
    list_indexes,
    load_index,
    register_index,
    scoped_defaults,
)

__all__ = [
    "Hits",
    "VectorIndex",
    "create_index",
    "list_indexes",
    "load_index",
    "normalize",
    "register_index",
    "scoped_defaults",
]
