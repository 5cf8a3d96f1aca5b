"""Milvus backend: the same index contract on a Milvus collection, through pymilvus's
MilvusClient. A file path as ``uri`` runs embedded Milvus Lite (no server); an
``http://host:19530`` URI (plus a token) talks to a Milvus standalone or cluster.

Reads use Strong consistency, so a search or count right after a write or a delete sees
it (a server's default, Bounded, can return a deleted image for a moment).

Each row holds the file id, its path (so other Milvus clients can read results without
the catalogue) and the vector. The index type and metric come from lookalike's options.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from lookalike.config import MILVUS_TOKEN_ENV
from lookalike.errors import LookalikeError, needs_extra
from lookalike.index.base import Hits, Ids, VectorIndex

TOKEN_ENV = MILVUS_TOKEN_ENV
F = TypeVar("F", bound=Callable[..., Any])
_BATCH = 1000
#: Every read sees every write and delete that came before it.
CONSISTENCY = "Strong"


def _client(uri: str, token: str | None) -> Any:
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise needs_extra(
            "the Milvus backend needs pymilvus (and milvus-lite for a local file)", "milvus"
        ) from None
    if "://" not in uri:
        Path(uri).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return MilvusClient(uri=uri, token=token or os.environ.get(TOKEN_ENV, ""))


def _typed_errors(method: F) -> F:
    """Milvus's exceptions become one-line :class:`LookalikeError` s."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from pymilvus.exceptions import MilvusException

        try:
            return method(*args, **kwargs)
        except MilvusException as exc:
            raise LookalikeError(f"Milvus: {getattr(exc, 'message', exc)}") from None

    return wrapper  # type: ignore[return-value]


#: lookalike's index kinds as Milvus index types (``auto`` lets Milvus use HNSW).
MILVUS_TYPES = {
    "auto": "HNSW",
    "hnsw": "HNSW",
    "ivf": "IVF_FLAT",
    "ivfpq": "IVF_PQ",
    "exact": "FLAT",
}


def milvus_options(
    kind: str | None, uri: str, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The options of a Milvus index at ``uri`` for one of lookalike's index kinds (or a
    Milvus index type named directly, e.g. ``DISKANN``)."""
    index_type = MILVUS_TYPES.get(kind or "auto", (kind or "HNSW").upper())
    return {"uri": uri, "index_type": index_type, **(extra or {})}


class MilvusIndex(VectorIndex):
    """A Milvus collection as a lookalike index."""

    kind = "milvus"

    @classmethod
    def scoped_defaults(cls, scope: str) -> dict[str, Any]:
        """Each vector set and metric gets its own Milvus collection."""
        return {"collection": f"lookalike_{scope}"}

    def __init__(
        self,
        dim: int,
        metric: str,
        *,
        uri: str,
        collection: str = "lookalike",
        index_type: str = "HNSW",
        index_params: dict[str, Any] | None = None,
        search_params: dict[str, Any] | None = None,
        token: str | None = None,
    ) -> None:
        super().__init__(dim, metric)
        self.uri = str(uri)
        self.collection = collection
        self.index_type = index_type.upper()
        defaults = {
            "HNSW": ({"M": 32, "efConstruction": 64}, {"ef": 64}),
            "IVF_FLAT": ({"nlist": 1024}, {"nprobe": 16}),
        }
        build, query = defaults.get(self.index_type, ({}, {}))
        self.index_params = dict(index_params or build)
        self.search_params = dict(search_params or query)
        self._client = _client(self.uri, token)
        self._ensure()

    def params(self) -> dict[str, Any]:
        # The token is a secret: it is never saved; give it again or set LOOKALIKE_MILVUS_TOKEN.
        return {
            "uri": self.uri,
            "collection": self.collection,
            "index_type": self.index_type,
            "index_params": self.index_params,
            "search_params": self.search_params,
        }

    @property
    def _metric_type(self) -> str:
        return "COSINE" if self.metric == "cosine" else "L2"

    @_typed_errors
    def _ensure(self) -> None:
        from pymilvus import DataType

        c = self._client
        if c.has_collection(self.collection):
            c.load_collection(self.collection)  # a collection made earlier starts released
            return
        schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("path", DataType.VARCHAR, max_length=4096)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        ip = c.prepare_index_params()
        ip.add_index(
            field_name="vector",
            index_type=self.index_type,
            metric_type=self._metric_type,
            params=self.index_params,
        )
        c.create_collection(
            self.collection, schema=schema, index_params=ip, consistency_level=CONSISTENCY
        )

    @_typed_errors
    def add(
        self, ids: Ids, vectors: NDArray[np.float32], paths: Sequence[str] | None = None
    ) -> None:
        ids = np.asarray(ids, np.int64)
        v = np.ascontiguousarray(vectors, np.float32).reshape(-1, self.dim)
        for s in range(0, len(ids), _BATCH):
            rows = [
                {"id": int(i), "path": paths[s + j] if paths else "", "vector": v[s + j].tolist()}
                for j, i in enumerate(ids[s : s + _BATCH].tolist())
            ]
            self._client.upsert(self.collection, rows)

    @_typed_errors
    def remove(self, ids: Ids) -> int:
        ids = [int(i) for i in np.asarray(ids, np.int64).tolist()]
        if not ids:
            return 0
        found = self._client.get(
            self.collection, ids=ids, output_fields=["id"], consistency_level=CONSISTENCY
        )
        present = {int(r["id"]) for r in found}
        if present:
            self._client.delete(self.collection, ids=sorted(present))
        return len(present)

    @_typed_errors
    def search(self, queries: NDArray[np.float32], k: int) -> Hits:
        q = np.ascontiguousarray(queries, np.float32).reshape(-1, self.dim)
        k = max(1, int(k))
        res = self._client.search(
            self.collection,
            data=[row.tolist() for row in q],
            limit=k,
            search_params={"metric_type": self._metric_type, "params": self.search_params},
            consistency_level=CONSISTENCY,
        )
        width = max((len(r) for r in res), default=0)
        scores = np.full((len(q), width), np.nan, np.float32)
        out = np.full((len(q), width), -1, np.int64)
        for r, hits in enumerate(res):
            for j, h in enumerate(hits):
                out[r, j] = int(h["id"])
                scores[r, j] = float(h["distance"])
        if self.metric == "euclidean":  # Milvus reports squared L2
            scores = np.sqrt(np.maximum(scores, 0.0))
        return Hits(scores, out)

    @_typed_errors
    def ids(self) -> Ids:
        it = self._client.query_iterator(
            self.collection,
            batch_size=_BATCH * 4,
            filter="id >= 0",
            output_fields=["id"],
            consistency_level=CONSISTENCY,
        )
        found: list[int] = []
        while True:
            batch = it.next()
            if not batch:
                it.close()
                break
            found.extend(int(r["id"]) for r in batch)
        return np.asarray(sorted(found), np.int64)

    @_typed_errors
    def __len__(self) -> int:
        # the stored row count lags deletes on a server; a Strong count(*) does not
        res = self._client.query(
            self.collection, filter="", output_fields=["count(*)"], consistency_level=CONSISTENCY
        )
        return int(res[0]["count(*)"]) if res else 0

    @property
    def memory_bytes(self) -> int:
        return 0  # held by the Milvus server, not this process

    @_typed_errors
    def drop(self) -> None:
        """Delete the Milvus collection."""
        if self._client.has_collection(self.collection):
            self._client.drop_collection(self.collection)

    def _save(self, folder: Path) -> None:
        """Milvus persists its own data; only the settings file is written."""

    def _load(self, folder: Path) -> None:
        """Nothing to read: the constructor reconnected."""
