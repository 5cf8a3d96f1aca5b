"""Honest evaluation of what learns from labels: k-fold cross-validation of the metric head.

The labelled images are split into ``folds`` parts, each class spread evenly over them.
For each part, a head is trained on the labels of the other parts only (the part's own
labels are hidden; its images still shape the label-free whitening, as every image of a
collection does), and only that part's images query, against the whole collection. The
per-query figures of the parts together give the usual table row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from lookalike.collection import Collection
from lookalike.errors import InvalidOptionError
from lookalike.evaluation.metrics import Evaluation, QueryScores, evaluate, summarise
from lookalike.results import Progress
from lookalike.training.labels import labels_for
from lookalike.training.metric import (
    Backbone,
    MetricConfig,
    backbone_vectors,
    fit_whitening,
    train_head,
)


def fold_of(codes: NDArray[np.int64], folds: int, seed: int = 0) -> NDArray[np.int64]:
    """The part each labelled item falls in: each class shuffled, then dealt round-robin
    from a random starting part, so every part holds about 1/folds of every class."""
    rng = np.random.default_rng(seed)
    out = np.empty(len(codes), np.int64)
    for c in np.unique(codes):
        rows = rng.permutation(np.flatnonzero(codes == c))
        out[rows] = (np.arange(len(rows)) + rng.integers(folds)) % folds
    return out


def evaluate_folds(
    col: Collection,
    *,
    groups: dict[str, str] | None = None,
    folds: int = 5,
    k: int = 8,
    metric: str = "cosine",
    rerank: bool = False,
    cfg: MetricConfig | None = None,
    backbone: Backbone | None = None,
    progress: Callable[[Progress], None] | None = None,
    index_progress: Callable[[Any], None] | None = None,
) -> tuple[Evaluation, list[str], list[str]]:
    """Cross-validated retrieval figures of a metric head trained on the collection's
    labels (sub-folders, or ``groups``), with the labelled images' paths and labels.
    ``backbone`` is the collection's backbone vectors when the caller already has them."""
    if folds < 2:
        raise InvalidOptionError("--folds needs at least 2 parts")
    cfg = cfg or MetricConfig()
    backbone = backbone or backbone_vectors(col, cfg, index_progress)
    paths, x = backbone.paths, backbone.vectors
    white = fit_whitening(x, cfg.whiten_power, cfg.whiten_shrink)  # label-free: once
    rows, labels = labels_for(paths, groups)
    keep = np.asarray(rows, np.int64)
    labels_arr = np.asarray(labels)
    _, codes = np.unique(labels_arr, return_inverse=True)
    part = fold_of(codes, folds, cfg.seed)
    n = len(keep)
    p, r, ap, rp = (np.zeros(n) for _ in range(4))
    top = np.full((n, k), -1, np.int64)
    for f in range(folds):
        y = np.full(len(x), -1, np.int64)
        y[keep] = np.where(part == f, -1, codes)
        head, _ = train_head(x, y, replace(cfg, val_split=0.0), white=white)
        asked = part == f
        ev = evaluate(head(x[keep]), labels_arr, k=k, metric=metric, queries=asked, rerank=rerank)
        s = ev.scores
        for mine, theirs in (
            (p, s.precision_at_k),
            (r, s.recall_at_k),
            (ap, s.average_precision),
            (rp, s.r_precision),
        ):
            mine[asked] = theirs[asked]
        top[asked] = ev.rankings[asked]
        if progress:
            progress(Progress("folds", f + 1, folds))
    scores = QueryScores(p, r, ap, rp, ev.scores.relevant)  # the same for every part
    evaluation = summarise(k, labels_arr, scores, top, np.ones(n, bool))
    return evaluation, [paths[i] for i in keep], list(labels)
