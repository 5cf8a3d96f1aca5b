"""The contract every index backend answers: add, remove, search, len, memory."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from lookalike.config import METRICS

Ids = NDArray[np.int64]


@dataclass(frozen=True)
class Hits:
    """Search answers for a batch of queries: (q, k) scores and ids; id -1 pads."""

    scores: NDArray[np.float32]
    ids: Ids


_DEFAULT_THREADS: int | None = None


@contextlib.contextmanager
def faiss_threads(n: int | None) -> Iterator[None]:
    """Run a FAISS call with ``n`` OpenMP threads (None: FAISS's default), then restore."""
    global _DEFAULT_THREADS
    import faiss

    if _DEFAULT_THREADS is None:
        _DEFAULT_THREADS = faiss.omp_get_max_threads()
    if n is None or n == _DEFAULT_THREADS:
        yield
        return
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(_DEFAULT_THREADS)


def normalize(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    """Rows scaled to unit length (zero rows stay zero)."""
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return v / norms


class VectorIndex(ABC):
    """Base of the index backends. Scores are in the user's metric: cosine similarity
    (higher is closer) or euclidean distance (lower is closer)."""

    kind: str

    def __init__(self, dim: int, metric: str) -> None:
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {', '.join(METRICS)}, not {metric!r}")
        self.dim = int(dim)
        self.metric = metric

    @abstractmethod
    def add(self, ids: Ids, vectors: NDArray[np.float32]) -> None:
        """Add vectors under the given ids."""

    @abstractmethod
    def remove(self, ids: Ids) -> int:
        """Remove ids; returns how many were present."""

    @abstractmethod
    def search(self, queries: NDArray[np.float32], k: int) -> Hits:
        """The k nearest stored vectors of each query row."""

    @abstractmethod
    def __len__(self) -> int: ...

    @property
    @abstractmethod
    def memory_bytes(self) -> int:
        """Approximate resident size of the index."""

    @property
    def higher_is_closer(self) -> bool:
        """True for similarities (cosine), False for distances (euclidean)."""
        return self.metric == "cosine"
