"""Typed results of the core API. Adapters render them; the core never prints."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
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
        """The image's absolute path."""
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

    def __iter__(self) -> Iterator[Match]:
        return iter(self.matches)

    def __len__(self) -> int:
        return len(self.matches)

    def __getitem__(self, i: int) -> Match:
        return self.matches[i]


@dataclass(frozen=True)
class Skipped:
    """A file that was not indexed, and why."""

    path: str
    reason: str


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
    index: dict[str, Any] = field(default_factory=dict)

    @property
    def images_per_second(self) -> float:
        """Decode-and-encode throughput of this run (model loading and scanning excluded)."""
        return self.indexed / self.embed_seconds if self.embed_seconds > 0 else 0.0


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
    index_stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CollectionInfo:
    """What is indexed in a collection."""

    root: Path
    db: Path
    files: int
    ok: int
    skipped: list[Skipped]
    vector_sets: list[VectorSetInfo] = field(default_factory=list)


@dataclass(frozen=True)
class VectorTable:
    """The vectors of one set with their file ids and paths (relative to the root)."""

    vector_set: str
    ids: NDArray[np.int64]
    paths: list[str]
    vectors: NDArray[np.float32]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class KnnGraph:
    """Each stored vector's ``k`` nearest others: (n,) ids, (n, k) neighbour ids (-1 pads)
    and (n, k) cosine similarities, best first."""

    ids: NDArray[np.int64]
    neighbours: NDArray[np.int64]
    similarities: NDArray[np.float32]


@dataclass(frozen=True)
class Progress:
    """A progress tick: ``done`` of ``total`` items in ``phase`` (scan, embed, compact)."""

    phase: str
    done: int
    total: int
