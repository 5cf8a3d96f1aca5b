"""Registers the built-in index backends, as a plugin would."""

from __future__ import annotations

from lookalike.index.exact import ExactIndex
from lookalike.index.registry import register_index


def register() -> None:
    """Entry point of the ``lookalike.indexes`` group for the built-ins."""
    register_index("exact", ExactIndex, description="exact flat scan (FAISS)", replace=True)
