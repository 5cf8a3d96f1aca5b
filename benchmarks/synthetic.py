"""Collections made of given vectors (no images), for benchmarks at scales where making and
embedding real images would take hours: the catalogue and vector files are the real ones."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lookalike.core.set_index import SetIndex
from lookalike.store import Catalog, FileRecord, VectorStore


def synthetic_collection(
    root: Path,
    vectors: np.ndarray,
    *,
    index: str | None = None,
    sizes: Sequence[int] | None = None,
) -> float:
    """Write ``root/.lookalike`` holding ``vectors`` as files ``img-NNNNNNN.jpg`` (each with
    its own content hash); with ``index``, choose that search index kind (``auto`` too),
    build and save it. Returns the seconds the index took to build (0 without one)."""
    n, dim = vectors.shape
    db = root / ".lookalike"
    cat = Catalog(db / "catalog.db")
    vset = cat.ensure_set(
        key=f"bench|avg|224|v{dim}",
        encoder="bench",
        version="v",
        pooling="avg",
        image_size=224,
        dim=dim,
        options={},
    )
    store = VectorStore(db / "vectors")
    shard = store.write_shard(vset.id, vectors)
    cat.record(
        [
            FileRecord(
                f"img-{i:07d}.jpg",
                sizes[i] if sizes else 1,
                1,
                sha256=f"h{i}",
                width=64,
                height=64,
                format="JPEG",
            )
            for i in range(n)
        ],
        set_id=vset.id,
        shard=shard,
    )
    seconds = 0.0
    if index is not None:
        cat.set_index_config(vset.id, index, {}, {})
        vset = cat.vector_sets()[0]
        t = time.perf_counter()
        setindex = SetIndex(cat, store, db, vset, "cosine")
        built, _ = setindex.open()
        if built.kind != "exact":
            setindex.save(built, setindex.generation)
        seconds = time.perf_counter() - t
    cat.close()
    return seconds
