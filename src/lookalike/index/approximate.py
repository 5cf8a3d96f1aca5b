"""Approximate backends on FAISS: HNSW graph, IVF (the report's K-means), IVF-PQ
(compressed, re-ranked exactly) and LSH (the report's random hyperplanes, re-ranked)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from numpy.typing import NDArray

from lookalike.index._faiss import FaissIndex, RerankStore, faiss_metric, rerank
from lookalike.index.base import Hits, Ids

#: HNSW compacts (rebuilds without the removed ids) once tombstones pass this share.
TOMBSTONE_SHARE = 0.1


#: The ``ef_search`` values :meth:`HNSWIndex.tune` tries, cheapest first.
EF_LADDER = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)


class HNSWIndex(FaissIndex):
    """Hierarchical navigable small-world graph. Fast and accurate; removal is by
    tombstones filtered at query time, compacted past ``TOMBSTONE_SHARE``."""

    kind = "hnsw"
    tunable = ("ef_search",)

    def __init__(
        self,
        dim: int,
        metric: str,
        *,
        M: int = 32,
        ef_construction: int = 80,
        ef_search: int = 128,
    ) -> None:
        super().__init__(dim, metric)
        self.M, self.ef_construction, self.ef_search = int(M), int(ef_construction), int(ef_search)
        self._dead: set[int] = set()
        self._params: tuple[Any, Any, Any] | None = None

    def params(self) -> dict[str, Any]:
        return {"M": self.M, "ef_construction": self.ef_construction, "ef_search": self.ef_search}

    def tune(self, recall: Callable[[], float], target: float) -> None:
        """The smallest ``ef_search`` of :data:`EF_LADDER` whose recall reaches ``target``
        (the largest where none does): the graph's search cost grows with it, and how
        much of it a set needs depends on the set (100,000 Fashion-MNIST vectors reach
        recall@10 0.99 at 32; the default of 128 costs 2.7x as much)."""
        for ef in EF_LADDER:
            self.ef_search = ef
            if recall() >= target:
                return

    def _make(self, first: NDArray[np.float32]) -> Any:
        hnsw = faiss.IndexHNSWFlat(self.dim, self.M, faiss_metric(self.metric))
        hnsw.hnsw.efConstruction = self.ef_construction
        return faiss.IndexIDMap2(hnsw)

    def _search_params(self) -> Any:
        key = (self.ef_search, len(self._dead))
        if self._params is None or self._params[0] != key:
            sel = None
            if self._dead:
                sel = faiss.IDSelectorNot(
                    faiss.IDSelectorBatch(np.fromiter(self._dead, np.int64, len(self._dead)))
                )
            # The selector must outlive the parameters that point to it: keep both.
            params = faiss.SearchParametersHNSW(efSearch=max(self.ef_search, 1), sel=sel)
            self._params = (key, params, sel)
        return self._params[1]

    def add(
        self, ids: Ids, vectors: NDArray[np.float32], paths: Sequence[str] | None = None
    ) -> None:
        ids = np.asarray(ids, np.int64)
        back = self._dead.intersection(ids.tolist())
        if back:  # an id re-added after removal: drop the old copy first
            self._compact(drop=back)
        super().add(ids, vectors)

    def remove(self, ids: Ids) -> int:
        present = set(self.ids().tolist())
        hit = present.intersection(np.asarray(ids, np.int64).tolist())
        self._dead |= hit
        if len(self._dead) > TOMBSTONE_SHARE * max(1, int(self._index.ntotal)):
            self._compact()
        return len(hit)

    def _compact(self, drop: set[int] = frozenset()) -> None:  # type: ignore[assignment]
        """Rebuild the graph from its own stored vectors, without the dead ids."""
        gone = self._dead | set(drop)
        all_ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        keep = np.array([i for i in all_ids.tolist() if i not in gone], dtype=np.int64)
        vecs = np.vstack([self._index.reconstruct(int(i)) for i in keep]) if len(keep) else None
        self._index, self._dead = None, set()
        if vecs is not None:
            self._index = self._make(vecs)
            self._index.add_with_ids(vecs, keep)

    def search(self, queries: NDArray[np.float32], k: int) -> Hits:
        hits = super().search(queries, k)
        live = len(self)
        if hits.ids.shape[1] > live:
            hits = Hits(hits.scores[:, :live], hits.ids[:, :live])
        return hits

    def ids(self) -> Ids:
        all_ids = super().ids()
        if not self._dead:
            return all_ids
        return all_ids[~np.isin(all_ids, np.fromiter(self._dead, np.int64, len(self._dead)))]

    def __len__(self) -> int:
        return super().__len__() - len(self._dead)

    def _save(self, folder: Path) -> None:
        super()._save(folder)
        (folder / "tombstones.json").write_text(json.dumps(sorted(self._dead)))

    def _load(self, folder: Path) -> None:
        super()._load(folder)
        self._dead = set(json.loads((folder / "tombstones.json").read_text()))


class IVFIndex(FaissIndex):
    """Inverted file over k-means cells (the report's K-means search): a query scans the
    ``nprobe`` nearest cells. ``nlist`` defaults to about 4 * sqrt(n) of the first batch."""

    kind = "ivf"

    def __init__(
        self, dim: int, metric: str, *, nlist: int | None = None, nprobe: int = 16
    ) -> None:
        super().__init__(dim, metric)
        self.nlist = nlist
        self.nprobe = int(nprobe)

    def params(self) -> dict[str, Any]:
        return {"nlist": self.nlist, "nprobe": self.nprobe}

    def _cells(self, n: int) -> int:
        if self.nlist is None:
            self.nlist = int(min(max(1, 4 * math.sqrt(n)), max(1, n // 39), 65536))
        return self.nlist

    def _make(self, first: NDArray[np.float32]) -> Any:
        nlist = self._cells(len(first))
        quantizer = faiss.IndexFlat(self.dim, faiss_metric(self.metric))
        index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss_metric(self.metric))
        index.train(first)
        return index

    def _search_params(self) -> Any:
        return faiss.SearchParametersIVF(nprobe=self.nprobe)

    def ids(self) -> Ids:
        if self._index is None:
            return np.zeros(0, np.int64)
        invlists = self._index.invlists
        parts = [
            faiss.rev_swig_ptr(invlists.get_ids(c), invlists.list_size(c)).copy()
            for c in range(self._index.nlist)
            if invlists.list_size(c)
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def _pq_subquantizers(dim: int, wanted: int = 32) -> int:
    """The largest divisor of ``dim`` not above ``wanted``."""
    return max(m for m in range(1, min(dim, wanted) + 1) if dim % m == 0)


class _Reranked(FaissIndex):
    """A compressed FAISS index whose ``rerank * k`` candidates are re-scored exactly."""

    def __init__(self, dim: int, metric: str, rerank: int) -> None:
        super().__init__(dim, metric)
        self.rerank = int(rerank)
        self._store = RerankStore(self.dim)

    def add(
        self, ids: Ids, vectors: NDArray[np.float32], paths: Sequence[str] | None = None
    ) -> None:
        super().add(ids, vectors)
        self._store.add(np.asarray(ids, np.int64), np.ascontiguousarray(vectors, np.float32))

    def _answer(self, q: NDArray[np.float32], k: int, n: int) -> Hits:
        if self.rerank <= 1:
            return super()._answer(q, k, n)
        _, cand = self._raw_search(q, min(n, k * self.rerank))
        scores, ids = rerank(self, self._store, q, cand, k)
        return Hits(self._to_user(scores), ids)

    def _save(self, folder: Path) -> None:
        super()._save(folder)
        self._store.save(folder)

    def _load(self, folder: Path) -> None:
        super()._load(folder)
        self._store.load(folder)


class IVFPQIndex(_Reranked):
    """IVF with product-quantised codes (``m`` bytes a vector at 8 bits): very large
    collections in little memory; candidates are re-ranked with exact distances."""

    kind = "ivfpq"

    def __init__(
        self,
        dim: int,
        metric: str,
        *,
        nlist: int | None = None,
        m: int | None = None,
        nbits: int = 8,
        nprobe: int = 32,
        rerank: int = 10,
    ) -> None:
        super().__init__(dim, metric, rerank)
        self.nlist, self.m, self.nbits, self.nprobe = nlist, m, int(nbits), int(nprobe)

    def params(self) -> dict[str, Any]:
        return {
            "nlist": self.nlist,
            "m": self.m,
            "nbits": self.nbits,
            "nprobe": self.nprobe,
            "rerank": self.rerank,
        }

    def _make(self, first: NDArray[np.float32]) -> Any:
        n = len(first)
        if self.nlist is None:
            self.nlist = int(min(max(1, 4 * math.sqrt(n)), max(1, n // 39), 65536))
        if self.m is None:
            self.m = _pq_subquantizers(self.dim)
        self.nbits = int(min(self.nbits, max(1, int(math.log2(max(2, n // 39))))))
        quantizer = faiss.IndexFlat(self.dim, faiss_metric(self.metric))
        index = faiss.IndexIVFPQ(
            quantizer, self.dim, self.nlist, self.m, self.nbits, faiss_metric(self.metric)
        )
        index.train(first)
        return index

    def _search_params(self) -> Any:
        return faiss.SearchParametersIVF(nprobe=self.nprobe)

    ids = IVFIndex.ids


class LSHIndex(_Reranked):
    """Random-hyperplane locality-sensitive hashing (the report's LSH): each vector becomes
    ``nbits`` bits, one per random hyperplane (a random rotation, each plane offset to the
    median of its projections so bits are balanced); candidates are found by Hamming
    distance and the best ``rerank * k`` are re-ranked exactly."""

    kind = "lsh"

    def __init__(
        self, dim: int, metric: str, *, nbits: int | None = None, rerank: int = 50
    ) -> None:
        super().__init__(dim, metric, rerank)
        self.nbits = int(nbits) if nbits else int(min(2048, max(256, 2 * dim)))

    def params(self) -> dict[str, Any]:
        return {"nbits": self.nbits, "rerank": self.rerank}

    def _make(self, first: NDArray[np.float32]) -> Any:
        lsh = faiss.IndexLSH(self.dim, self.nbits, True, True)  # random rotation, median thresholds
        lsh.train(first)
        return faiss.IndexIDMap2(lsh)
