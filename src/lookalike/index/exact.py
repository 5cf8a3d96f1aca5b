"""Exact search: every stored vector is scored, in one FAISS flat scan (BLAS or SIMD).

The ground truth for every approximate backend, and the default for small collections.
"""

from __future__ import annotations

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

    def _make(self, first: np.ndarray) -> Any:  # pragma: no cover - built in __init__
        return self._index

    @property
    def memory_bytes(self) -> int:
        return len(self) * (self.dim * 4 + 8)
