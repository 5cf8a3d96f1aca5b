"""The contract every index backend answers: add, remove, search, save, load, len, memory."""

from __future__ import annotations

import contextlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from lookalike.config import METRICS
from lookalike.errors import InvalidOptionError

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
    (higher is closer) or euclidean distance (lower is closer).

    Subclasses implement add/remove/search/ids/len/memory and, to persist, ``_save`` and
    ``_load``; ``save`` and ``load`` handle the folder and the settings file.
    """

    kind: str

    def __init__(self, dim: int, metric: str) -> None:
        if metric not in METRICS:
            raise InvalidOptionError(f"metric must be one of {', '.join(METRICS)}, not {metric!r}")
        self.dim = int(dim)
        self.metric = metric

    # -- the contract ---------------------------------------------------------------------
    @abstractmethod
    def add(
        self, ids: Ids, vectors: NDArray[np.float32], paths: Sequence[str] | None = None
    ) -> None:
        """Add vectors under the given ids (``paths``: labels a backend may store too)."""

    @abstractmethod
    def remove(self, ids: Ids) -> int:
        """Remove ids; returns how many were present."""

    @abstractmethod
    def search(self, queries: NDArray[np.float32], k: int) -> Hits:
        """The k nearest stored vectors of each query row."""

    @abstractmethod
    def ids(self) -> Ids:
        """The ids currently searchable."""

    @abstractmethod
    def __len__(self) -> int: ...

    @property
    @abstractmethod
    def memory_bytes(self) -> int:
        """Approximate resident size of the index (memory-mapped files excluded)."""

    def params(self) -> dict[str, Any]:
        """The settings that built this index (shown by ``info``, saved with it)."""
        return {}

    #: Options that :meth:`tune` sets; a user who gives one keeps it untuned.
    tunable: tuple[str, ...] = ()

    def tune(self, recall: Callable[[], float], target: float) -> None:
        """Take the cheapest search setting whose ``recall()`` (measured on a sample
        against exact search, with the setting in force) reaches ``target``. Optional
        hook: a backend without search settings keeps what it has."""
        return None

    # -- persistence ----------------------------------------------------------------------
    def save(self, folder: Path) -> Path:
        """Write the index into a new, empty ``folder`` (the caller makes it current)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=False)
        self._save(folder)
        meta = {"kind": self.kind, "dim": self.dim, "metric": self.metric, "params": self.params()}
        (folder / "index.json").write_text(json.dumps(meta, indent=2))
        return folder

    def _save(self, folder: Path) -> None:
        raise NotImplementedError(f"the {self.kind} index cannot be saved")

    def _load(self, folder: Path) -> None:
        raise NotImplementedError(f"the {self.kind} index cannot be loaded")

    def restore(self, folder: Path) -> None:
        """Read the stored part of an index that :meth:`save` wrote into ``folder``; use
        :func:`lookalike.index.load_index`, which builds the right kind first."""
        self._load(Path(folder))

    @classmethod
    def scoped_defaults(cls, scope: str) -> dict[str, Any]:
        """Options a backend derives from its owner (e.g. a server-side collection name),
        given a short ``scope`` string unique to one vector set and metric. Optional hook."""
        return {}

    @property
    def higher_is_closer(self) -> bool:
        """True for similarities (cosine), False for distances (euclidean)."""
        return self.metric == "cosine"

    def _prepare(self, vectors: NDArray[np.float32]) -> NDArray[np.float32]:
        """Vectors as FAISS wants them: float32 rows, unit length for cosine."""
        v = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        if self.metric != "cosine":
            return v
        if len(v) == 1:  # one query: the cheap path
            norm = float(np.sqrt(v[0] @ v[0]))
            return v / norm if norm > 0 else v
        return normalize(v)

    def _to_user(self, scores: NDArray[np.float32]) -> NDArray[np.float32]:
        """FAISS's raw scores (inner product, squared L2) in the user's metric."""
        if self.metric == "euclidean":
            scores = np.sqrt(np.maximum(scores, 0.0))
        return np.asarray(scores, dtype=np.float32)
