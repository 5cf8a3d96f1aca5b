"""Registers the built-in index backends, as a plugin would."""

from __future__ import annotations

from lookalike.index.approximate import HNSWIndex, IVFIndex, IVFPQIndex, LSHIndex
from lookalike.index.exact import ExactIndex
from lookalike.index.registry import register_index


def register() -> None:
    """Entry point of the ``lookalike.indexes`` group for the built-ins."""
    register_index("exact", ExactIndex, description="exact flat scan (FAISS)", replace=True)
    register_index("hnsw", HNSWIndex, description="HNSW graph (FAISS); M, ef_search", replace=True)
    register_index(
        "ivf",
        IVFIndex,
        description="inverted file over k-means cells; nlist, nprobe",
        replace=True,
    )
    register_index(
        "ivfpq",
        IVFPQIndex,
        description="IVF with product-quantised codes, exact re-ranking; nlist, m, nprobe",
        replace=True,
    )
    register_index(
        "lsh",
        LSHIndex,
        description="random-hyperplane LSH, exact re-ranking; nbits",
        replace=True,
    )
    register_milvus()


def register_milvus() -> None:
    """The Milvus backend: its module imports pymilvus only when an index is made."""
    from lookalike.index.milvus import MilvusIndex

    register_index(
        "milvus",
        MilvusIndex,
        description="Milvus collection (Milvus Lite file or server URI)",
        replace=True,
    )
