"""Retrieval metrics on plain arrays: every item is a query against all the others.

Independent of how the vectors were made: give vectors and labels (or rankings and
labels) and get P@k (the origin report's measure), recall@k, average precision over the
full ranking, and R-precision, per query, with means, bootstrap intervals and a per-class
breakdown.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from lookalike.errors import InvalidOptionError
from lookalike.index import create_index, normalize
from lookalike.index.rerank import RERANK_NEIGHBOURS, expand_queries

#: Approximate indexes rank this deep (the whole collection when smaller): mAP and
#: R-precision count what the index does not return as not retrieved.
FULL_DEPTH = 20_000


@dataclass(frozen=True)
class QueryScores:
    """Per-query metrics, aligned with the queries."""

    precision_at_k: NDArray[np.float64]
    recall_at_k: NDArray[np.float64]
    average_precision: NDArray[np.float64]
    r_precision: NDArray[np.float64]
    relevant: NDArray[np.int64]  # how many other items share the query's label


@dataclass(frozen=True)
class Summary:
    """Mean of one metric with its bootstrap 95% interval."""

    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class Evaluation:
    """Everything ``evaluate`` measured for one configuration."""

    k: int
    queries: int  # queries scored: those with at least one relevant item
    summary: dict[str, Summary]
    per_class: dict[str, dict[str, float]]
    scores: QueryScores
    rankings: NDArray[np.int64] = field(repr=False)  # top-k neighbours of each query

    @property
    def headline(self) -> str:
        """P@k, unless groups are too small for it to mean much (then mAP)."""
        small = float(np.median(self.scores.relevant)) < self.k
        return "mAP" if small else f"P@{self.k}"


def score_ranking(
    ranked_relevance: NDArray[np.bool_], relevant: int, k: int
) -> tuple[float, float, float, float]:
    """(P@k, recall@k, AP, R-precision) of one query's ranking (True = same label)."""
    rel = np.asarray(ranked_relevance, dtype=bool)
    hits_k = int(rel[:k].sum())
    p_at_k = hits_k / k
    r_at_k = hits_k / relevant if relevant else 0.0
    if relevant == 0:
        return p_at_k, r_at_k, 0.0, 0.0
    positions = np.flatnonzero(rel) + 1
    ap = float((np.arange(1, len(positions) + 1) / positions).sum() / relevant)
    r_prec = float(rel[:relevant].sum() / relevant)
    return p_at_k, r_at_k, ap, r_prec


def rankings(
    vectors: NDArray[np.float32],
    metric: str = "cosine",
    *,
    batch: int = 512,
    rows: NDArray[np.int64] | None = None,
    rerank: bool = False,
) -> Iterator[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """Full exact rankings (self excluded) of the query ``rows`` (default: every row), a
    batch at a time: memory is batch x n, never n x n. Ties keep the lower index first.
    ``rerank`` ranks again for each query expanded by its nearest neighbours."""
    x = normalize(vectors) if metric == "cosine" else np.asarray(vectors, np.float32)
    sq = (x * x).sum(axis=1)
    n = len(x)
    rows = np.arange(n) if rows is None else np.asarray(rows, np.int64)

    def ranked(q: NDArray[np.float32], own: NDArray[np.int64]) -> NDArray[np.int64]:
        if metric == "cosine":
            score = -(q @ x.T)
        else:
            score = (q * q).sum(axis=1)[:, None] - 2 * (q @ x.T) + sq[None, :]
        score[np.arange(len(q)), own] = np.inf  # never itself
        return np.argsort(score, axis=1, kind="stable")[:, : n - 1]

    for s in range(0, len(rows), batch):
        own = rows[s : s + batch]
        order = ranked(x[own], own)
        if rerank:
            nearest = x[order[:, :RERANK_NEIGHBOURS]]
            order = ranked(expand_queries(x[own], nearest), own)
        yield own, order


def index_rankings(
    vectors: NDArray[np.float32],
    metric: str,
    kind: str,
    depth: int,
    *,
    rerank: bool = False,
    **opts: object,
) -> Iterator[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """Top-``depth`` rankings from an approximate index (self excluded; -1 pads);
    ``rerank`` searches again with each query expanded by its nearest neighbours."""
    n = len(vectors)
    index = create_index(kind, vectors.shape[1], metric, **opts)
    index.add(np.arange(n, dtype=np.int64), vectors)

    def search(q: NDArray[np.float32], own: NDArray[np.int64]) -> NDArray[np.int64]:
        hits = index.search(q, min(n, depth + 1)).ids
        out = np.full((len(hits), depth), -1, np.int64)
        for r, row in enumerate(hits):
            row = row[(row != own[r]) & (row >= 0)][:depth]
            out[r, : len(row)] = row
        return out

    for s in range(0, n, 1024):
        own = np.arange(s, min(n, s + 1024))
        order = search(vectors[own], own)
        if rerank:
            nearest = vectors[np.maximum(order[:, :RERANK_NEIGHBOURS], 0)]
            order = search(expand_queries(vectors[own], nearest), own)
        yield own, order


def bootstrap(values: NDArray[np.float64], *, rounds: int = 1000, seed: int = 0) -> Summary:
    """Mean and percentile-bootstrap 95% interval over queries."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return Summary(0.0, 0.0, 0.0)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (rounds, len(values)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return Summary(float(values.mean()), float(lo), float(hi))


def evaluate(
    vectors: NDArray[np.float32],
    labels: Sequence[str],
    *,
    k: int = 8,
    metric: str = "cosine",
    index: str = "exact",
    index_options: dict[str, object] | None = None,
    queries: NDArray[np.bool_] | None = None,
    rerank: bool = False,
) -> Evaluation:
    """Every item (or each item of ``queries``) queries all the others; metrics over
    labels (same label = relevant). ``rerank`` expands each query by its nearest
    neighbours and searches again (``lookalike.index.rerank``)."""
    labels_arr = np.asarray(labels)
    n = len(labels_arr)
    if n != len(vectors):
        raise InvalidOptionError("one label per vector")
    _, codes = np.unique(labels_arr, return_inverse=True)
    counts = np.bincount(codes)
    relevant = counts[codes] - 1
    asked = np.ones(n, bool) if queries is None else np.asarray(queries, bool)
    p, r, ap, rp = (np.zeros(n) for _ in range(4))
    top = np.full((n, k), -1, np.int64)
    if index == "exact":
        stream = rankings(vectors, metric, rows=np.flatnonzero(asked), rerank=rerank)
    elif queries is not None:
        raise InvalidOptionError("a subset of queries is scored with the exact index only")
    else:
        depth = max(k, min(n - 1, FULL_DEPTH))
        stream = index_rankings(
            vectors, metric, index, depth, rerank=rerank, **(index_options or {})
        )
    for own, order in stream:
        for qi, ranked in zip(own.tolist(), order, strict=True):
            ranked = ranked[ranked >= 0]
            rel = codes[ranked] == codes[qi]
            p[qi], r[qi], ap[qi], rp[qi] = score_ranking(rel, int(relevant[qi]), k)
            top[qi, : min(k, len(ranked))] = ranked[:k]
    return summarise(
        k, labels_arr, QueryScores(p, r, ap, rp, relevant.astype(np.int64)), top, asked
    )


def summarise(
    k: int,
    labels: NDArray[np.str_],
    scores: QueryScores,
    top: NDArray[np.int64],
    asked: NDArray[np.bool_],
) -> Evaluation:
    """Means with intervals and per-class figures over the queries asked that have at
    least one relevant item (a class of one cannot be answered: it is left out)."""
    names = {
        f"P@{k}": scores.precision_at_k,
        f"recall@{k}": scores.recall_at_k,
        "mAP": scores.average_precision,
        "R-precision": scores.r_precision,
    }
    answerable = (scores.relevant > 0) & asked
    summary = {name: bootstrap(v[answerable]) for name, v in names.items()}
    per_class = {
        str(label): {
            name: float(v[(labels == label) & answerable].mean()) for name, v in names.items()
        }
        for label in np.unique(labels[answerable])
    }
    return Evaluation(k, int(answerable.sum()), summary, per_class, scores, top)
