"""Exact search: every stored vector is scored, in one FAISS flat scan (BLAS or SIMD).

The ground truth for every approximate backend, and the default for small collections.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faiss
import numpy as np

from lookalike.index._faiss import FaissIndex, faiss_metric


class ExactIndex(FaissIndex):
    """Flat inner-product (cosine, on unit vectors) or L2 index with stable int64 ids."""

    kind = "exact"

    def __init__(self, dim: int, metric: str) -> None:
        super().__init__(dim, metric)
        self._index = faiss.IndexIDMap2(faiss.IndexFlat(self.dim, faiss_metric(metric)))
        self._mapped: Path | None = None  # the file a loaded index is memory-mapped from

    def _make(self, first: np.ndarray) -> Any:  # pragma: no cover - built in __init__
        return self._index

    def _load(self, folder: Path) -> None:
        """Map the saved vectors instead of reading them (a search of a stored image then
        starts in milliseconds); the first change reads them in for real."""
        path = folder / "index.faiss"
        if path.exists():
            self._index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
            self._mapped = path

    def _writable(self) -> None:
        if self._mapped is not None:
            self._index = faiss.read_index(str(self._mapped))
            self._mapped = None

    def add(self, ids: Any, vectors: np.ndarray, paths: Any = None) -> None:
        self._writable()
        super().add(ids, vectors, paths)

    def remove(self, ids: Any) -> int:
        self._writable()
        return super().remove(ids)

    @property
    def memory_bytes(self) -> int:
        return len(self) * (self.dim * 4 + 8)
