"""Typed results of the core API. Adapters render them; the core never prints."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Match:
    """One search result. ``score`` is a cosine similarity (higher is closer) or a
    euclidean distance (lower is closer), as ``metric`` says."""

    rank: int
    location: str  # the absolute path, as text: making Path objects is the costly part
    score: float
    metric: str

    @property
    def path(self) -> Path:
        """The image's absolute path (a :class:`upath.UPath` in a URL collection)."""
        if "://" in self.location:
            from upath import UPath

            return UPath(self.location)  # type: ignore[return-value]
        return Path(self.location)


@dataclass(frozen=True)
class SearchResult:
    """The ranked matches of one query, and which vectors answered it."""

    query: str
    matches: list[Match]
    metric: str
    vector_set: str
    encoder: str
    pooling: str | None
    searched: int  # how many vectors the index holds
    seconds: float
    index: str = "exact"
    recall: float | None = None  # share of the exact top-k found, when checked
    rerank: bool = False  # re-ranked by query expansion (scores are to the expanded query)

    def __iter__(self) -> Iterator[Match]:
        return iter(self.matches)

    def __len__(self) -> int:
        return len(self.matches)

    def __getitem__(self, i: int) -> Match:
        return self.matches[i]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json`` and the API: paths absolute, scores rounded to 1e-6."""
        return {
            "query": self.query,
            "encoder": self.encoder,
            "pooling": self.pooling,
            "metric": self.metric,
            "vector_set": self.vector_set,
            "searched": self.searched,
            "index": self.index,
            "recall": self.recall,
            "rerank": self.rerank,
            "seconds": round(self.seconds, 6),
            "results": [
                {"rank": m.rank, "path": m.location, "score": round(m.score, 6)}
                for m in self.matches
            ],
        }


@dataclass(frozen=True)
class Skipped:
    """A file that was not indexed, and why."""

    path: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return {"path": self.path, "reason": self.reason}


@dataclass(frozen=True)
class IndexStats:
    """A search index as measured after it was built or synced: its kind and settings,
    resident memory, size, and recall@10 against exact search on a sample of its vectors."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    memory_bytes: int = 0
    count: int = 0
    recall_at_10: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the form the catalogue stores and ``--json`` prints)."""
        return asdict(self)

    def describe(self) -> str:
        """The index in words, e.g. ``hnsw (M=32, efSearch=64)`` or ``Milvus Lite file
        x.db, HNSW (M=32, efConstruction=64; ef=64)``."""

        def pairs(d: dict[str, Any]) -> str:
            return ", ".join(f"{k}={v}" for k, v in d.items())

        p = dict(self.params)
        if self.kind != "milvus":
            return f"{self.kind} ({pairs(p)})" if p else self.kind
        uri = str(p.get("uri", "?"))
        where = f"Milvus server {uri}" if "://" in uri else f"Milvus Lite file {uri}"
        build, search = p.get("index_params") or {}, p.get("search_params") or {}
        detail = "; ".join(x for x in (pairs(build), pairs(search)) if x)
        return f"{where}, {p.get('index_type', 'AUTOINDEX')}" + (f" ({detail})" if detail else "")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexStats | None:
        """Read what :meth:`to_dict` wrote (None for an empty or foreign record)."""
        if not data or "kind" not in data:
            return None
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class IndexReport:
    """What one ``index`` run did."""

    root: Path
    vector_set: str
    encoder: str
    pooling: str | None
    files_seen: int
    indexed: int
    unchanged: int
    removed: int
    skipped: list[Skipped]
    newly_skipped: int
    seconds: float
    embed_seconds: float = 0.0
    interrupted: bool = False
    index: IndexStats | None = None

    @property
    def images_per_second(self) -> float:
        """Decode-and-encode throughput of this run (model loading and scanning excluded)."""
        return self.indexed / self.embed_seconds if self.embed_seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json`` and the API."""
        return {
            "root": str(self.root),
            "vector_set": self.vector_set,
            "encoder": self.encoder,
            "pooling": self.pooling,
            "files_seen": self.files_seen,
            "indexed": self.indexed,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "skipped": [s.to_dict() for s in self.skipped],
            "newly_skipped": self.newly_skipped,
            "seconds": round(self.seconds, 3),
            "embed_seconds": round(self.embed_seconds, 3),
            "images_per_second": round(self.images_per_second, 1),
            "interrupted": self.interrupted,
            "index": self.index.to_dict() if self.index else {},
        }


@dataclass(frozen=True)
class VectorSetInfo:
    """One vector space of a collection, as ``info`` shows it."""

    key: str
    encoder: str
    pooling: str | None
    image_size: int
    dim: int
    count: int
    updated_at: float
    index_kind: str = "auto"
    index_options: dict[str, Any] = field(default_factory=dict)
    index_stats: IndexStats | None = None
    #: The set plain ``search``, ``group`` and ``info`` use (the last ``index`` run's).
    default: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain data (``index_stats`` empty where the index was never measured)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["index_stats"] = self.index_stats.to_dict() if self.index_stats else {}
        return out


@dataclass(frozen=True)
class CollectionInfo:
    """What is indexed in a collection."""

    root: Path
    db: Path
    files: int
    ok: int
    skipped: list[Skipped]
    vector_sets: list[VectorSetInfo] = field(default_factory=list)
    #: Pairs whose pixel measures a grouping kept (a later one judges them again on them).
    measures_kept: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json`` and the API."""
        return {
            "root": str(self.root),
            "db": str(self.db),
            "files": self.files,
            "images": self.ok,
            "vector_sets": [s.to_dict() for s in self.vector_sets],
            "skipped": [s.to_dict() for s in self.skipped],
            "measures_kept": self.measures_kept,
        }


@dataclass(frozen=True)
class VectorTable:
    """The vectors of one set with their file ids and paths (relative to the root)."""

    vector_set: str
    ids: NDArray[np.int64]
    paths: list[str]
    vectors: NDArray[np.float32]
    encoder: str = ""  # from the catalogue's row of the set, never parsed from its key
    pooling: str | None = None

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class KnnGraph:
    """Each stored vector's ``k`` nearest others: (n,) ids, (n, k) neighbour ids (-1 pads)
    and (n, k) cosine similarities, best first."""

    ids: NDArray[np.int64]
    neighbours: NDArray[np.int64]
    similarities: NDArray[np.float32]

    def first(self, k: int) -> KnnGraph:
        """The same graph keeping each vector's ``k`` nearest only."""
        if self.neighbours.shape[1] <= k:
            return self
        return KnnGraph(self.ids, self.neighbours[:, :k], self.similarities[:, :k])


@dataclass(frozen=True)
class Progress:
    """A progress tick: ``done`` of ``total`` items in ``phase`` (scan, embed, compact)."""

    phase: str
    done: int
    total: int
