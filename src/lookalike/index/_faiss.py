"""Shared pieces of the FAISS backends: the id-mapped wrapper, saving, a re-rank store."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from numpy.typing import NDArray

from lookalike.index.base import Hits, Ids, VectorIndex, faiss_threads

#: Below this many queries one thread answers faster than several: a single scan is
#: memory-bound, and thread barriers stall when a core is slow (measured: 21 ms with one
#: OpenMP thread vs 33 ms with two for one query over 100,000 x 1280 on 2 cores).
FEW_QUERIES = 8


def faiss_metric(metric: str) -> int:
    """Inner product on unit vectors for cosine, L2 for euclidean."""
    return faiss.METRIC_INNER_PRODUCT if metric == "cosine" else faiss.METRIC_L2


def empty_hits(queries: int) -> Hits:
    """The answer of an empty index: no columns."""
    return Hits(np.zeros((queries, 0), np.float32), np.zeros((queries, 0), np.int64))


class FaissIndex(VectorIndex):
    """A FAISS index behind an id map; subclasses build ``self._index`` lazily in ``_make``."""

    def __init__(self, dim: int, metric: str) -> None:
        super().__init__(dim, metric)
        self._index: Any = None

    def _make(self, first: NDArray[np.float32]) -> Any:
        """Build (and train, on ``first``) the FAISS index."""
        raise NotImplementedError

    def _search_params(self) -> Any:
        return None

    def add(
        self, ids: Ids, vectors: NDArray[np.float32], paths: Sequence[str] | None = None
    ) -> None:
        v = self._prepare(vectors)
        if len(v) == 0:
            return
        if self._index is None:
            self._index = self._make(v)
        self._index.add_with_ids(v, np.ascontiguousarray(ids, dtype=np.int64))

    def remove(self, ids: Ids) -> int:
        if self._index is None:
            return 0
        return int(self._index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64)))

    def _raw_search(self, q: NDArray[np.float32], k: int) -> tuple[NDArray[np.float32], Ids]:
        with faiss_threads(1 if len(q) < FEW_QUERIES else None):
            params = self._search_params()
            if params is None:
                return self._index.search(q, k)
            return self._index.search(q, k, params=params)

    def search(self, queries: NDArray[np.float32], k: int) -> Hits:
        q = self._prepare(queries)
        n = len(self)
        if n == 0:
            return empty_hits(len(q))
        return self._answer(q, max(1, min(int(k), n)), n)

    def _answer(self, q: NDArray[np.float32], k: int, n: int) -> Hits:
        """The top ``k`` of prepared queries ``q`` among ``n`` stored vectors."""
        scores, ids = self._raw_search(q, k)
        return Hits(self._to_user(scores), ids)

    def ids(self) -> Ids:
        if self._index is None:
            return np.zeros(0, dtype=np.int64)
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def __len__(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    @property
    def memory_bytes(self) -> int:
        if self._index is None:
            return 0
        return int(faiss.serialize_index(self._index).nbytes)

    def _save(self, folder: Path) -> None:
        if self._index is not None:
            faiss.write_index(self._index, str(folder / "index.faiss"))

    def _load(self, folder: Path) -> None:
        path = folder / "index.faiss"
        if path.exists():
            self._index = faiss.read_index(str(path))


#: Re-ranking scores every stored row at once when a query's candidates number at least
#: 1/DENSE_SHARE of the store; queries go in blocks of about DENSE_BLOCK scores.
DENSE_SHARE = 4
DENSE_BLOCK = 1 << 24


class RerankStore:
    """Full vectors kept beside a compressed index, to re-rank its candidates exactly.

    Vectors live in memory while the index is built and in a memory-mapped ``.npy`` once it
    is saved, so they cost disk, not RAM.
    """

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._chunks: list[NDArray[np.float32]] = []
        self._ids: list[Ids] = []
        self._matrix: NDArray[np.float32] | None = None
        self._row_ids: Ids = np.zeros(0, np.int64)
        self._order: Ids = np.zeros(0, np.int64)  # argsort of _row_ids

    def add(self, ids: Ids, vectors: NDArray[np.float32]) -> None:
        self._chunks.append(np.ascontiguousarray(vectors, np.float32))
        self._ids.append(np.asarray(ids, np.int64))

    def _consolidate(self) -> None:
        if not self._chunks and self._matrix is not None:
            return
        parts = ([self._matrix] if self._matrix is not None else []) + self._chunks
        ids = ([self._row_ids] if len(self._row_ids) else []) + self._ids
        self._matrix = np.concatenate(parts) if parts else np.zeros((0, self.dim), np.float32)
        self._row_ids = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        self._order = np.argsort(self._row_ids, kind="stable")
        self._chunks, self._ids = [], []

    def positions(self, ids: Ids) -> Ids:
        """Rows of ``ids`` (each must be present; a re-added id gives its latest row)."""
        self._consolidate()
        pos = np.searchsorted(self._row_ids[self._order], ids, side="right") - 1
        return self._order[pos]

    def get(self, ids: Ids) -> NDArray[np.float32]:
        """Vectors of ``ids`` (each must be present; a re-added id gives its latest vector)."""
        rows = self.positions(ids)
        assert self._matrix is not None
        return np.asarray(self._matrix[rows], dtype=np.float32)

    def matrix(self) -> NDArray[np.float32]:
        """Every stored row (removed and replaced ids included: select rows by id)."""
        self._consolidate()
        assert self._matrix is not None
        return np.asarray(self._matrix, dtype=np.float32)

    def save(self, folder: Path) -> None:
        self._consolidate()
        assert self._matrix is not None
        np.save(folder / "rerank.npy", self._matrix)
        np.save(folder / "rerank_ids.npy", self._row_ids)

    def load(self, folder: Path) -> None:
        self._matrix = np.load(folder / "rerank.npy", mmap_mode="r")
        self._row_ids = np.load(folder / "rerank_ids.npy")
        self._order = np.argsort(self._row_ids, kind="stable")
        self._chunks, self._ids = [], []


def rerank(
    index: VectorIndex,
    store: RerankStore,
    q: NDArray[np.float32],
    cand: Ids,
    k: int,
) -> tuple[NDArray[np.float32], Ids]:
    """Exact scores for candidate ids (-1 ignored); the best ``k`` per query, raw metric."""
    out_s = np.full((len(q), k), -np.inf if index.higher_is_closer else np.inf, np.float32)
    out_i = np.full((len(q), k), -1, np.int64)
    # When each query has candidates in a good share of the store (deep rankings, as an
    # evaluation asks), scoring every stored row with one matrix product per block of
    # queries beats gathering the candidates' vectors query by query.
    stored = store.matrix() if cand.size else np.zeros((0, store.dim), np.float32)
    dense = len(stored) > 0 and cand.shape[1] * DENSE_SHARE >= len(stored)
    every = index._prepare(stored) if dense else None
    every_sq = (every * every).sum(1) if every is not None else None
    block = max(1, DENSE_BLOCK // max(1, len(stored)))
    full: NDArray[np.float32] | None = None
    for r in range(len(q)):
        c = cand[r][cand[r] >= 0]
        if every is not None and r % block == 0:
            qb = q[r : r + block]
            full = qb @ every.T
            if not index.higher_is_closer:
                full = (qb * qb).sum(1)[:, None] - 2 * full + every_sq
        if len(c) == 0:
            continue
        if full is not None:
            s = full[r % block, store.positions(c)]
        else:
            vecs = index._prepare(store.get(c))
            s = vecs @ q[r] if index.higher_is_closer else ((vecs - q[r]) ** 2).sum(axis=1)
        order = np.argsort(-s if index.higher_is_closer else s, kind="stable")[:k]
        out_s[r, : len(order)] = s[order]
        out_i[r, : len(order)] = c[order]
    return out_s, out_i
