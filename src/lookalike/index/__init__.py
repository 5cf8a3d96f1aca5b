"""Index backends behind one registry: ``create_index(kind, dim, metric)``."""

from lookalike.index.base import Hits, VectorIndex, normalize
from lookalike.index.registry import create_index, list_indexes, register_index

__all__ = ["Hits", "VectorIndex", "create_index", "list_indexes", "normalize", "register_index"]
