"""Embedding engines: where an index run decodes and encodes its images.

``local`` (the default) runs threads in this process; ``ray`` runs the same decode and
encode functions as Ray Data stages on a local Ray or a cluster. Both yield the same
:class:`EmbeddedBatch` stream, which the index run writes with the same atomic,
resumable rules. Engines register in one registry, built-ins like plugins.
"""

from lookalike.engines.base import Engine
from lookalike.engines.local import EmbeddedBatch, LocalEngine, embed_batch
from lookalike.engines.registry import create_engine, list_engines, register_engine

__all__ = [
    "EmbeddedBatch",
    "Engine",
    "LocalEngine",
    "create_engine",
    "embed_batch",
    "list_engines",
    "register_engine",
]
