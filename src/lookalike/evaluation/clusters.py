"""How well clusters match classes people sorted by hand: ARI, NMI and purity for each
algorithm, with the true number of classes given and with the automatic choice."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from lookalike.collection import Collection
from lookalike.errors import InvalidOptionError
from lookalike.grouping.clusters import ALGOS, cluster_labels
from lookalike.index.base import normalize
from lookalike.results import Progress
from lookalike.training.labels import labels_for


@dataclass(frozen=True)
class ClusterScore:
    """One clustering against the classes. Outliers (``-1``) count as one more cluster."""

    algo: str
    k: str  # "given" or "automatic"
    clusters: int
    ari: float
    nmi: float
    purity: float
    #: Largest cluster over the largest class: above 1 a cluster swallowed other classes.
    largest: float
    outliers: int
    seconds: float
    criterion: str


@dataclass(frozen=True)
class ClusterEvaluation:
    """Every clustering of one vector set of a labelled collection."""

    root: Path
    vector_set: str
    images: int
    classes: int
    rows: list[ClusterScore] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "root": str(self.root),
            "vector_set": self.vector_set,
            "images": self.images,
            "classes": self.classes,
            "rows": [asdict(r) for r in self.rows],
        }

    def to_json(self) -> str:
        """The same as JSON text."""
        return json.dumps(self.to_dict(), indent=2)

    def to_markdown(self) -> str:
        """A table for docs and reports."""
        head = "| algorithm | k | clusters | ARI | NMI | purity | largest / class | seconds |"
        lines = [head, "|---|---|---|---|---|---|---|---|"]
        for r in self.rows:
            lines.append(
                f"| {r.algo} | {r.k} | {r.clusters:,} | {r.ari:.3f} | {r.nmi:.3f} | "
                f"{r.purity:.3f} | {r.largest:.2f} | {r.seconds:.1f} |"
            )
        return "\n".join(lines) + "\n"


def purity(truth: NDArray[np.int64], labels: NDArray[np.int64]) -> float:
    """The share of images whose cluster's most common class is their own."""
    total = 0
    for c in np.unique(labels):
        total += int(np.bincount(truth[labels == c]).max())
    return total / len(truth)


def score_labels(truth: Sequence[int], labels: Sequence[int]) -> dict[str, float]:
    """ARI, NMI and purity of one partition against the classes."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    t, p = np.asarray(truth, np.int64), np.asarray(labels, np.int64)
    return {
        "ari": float(adjusted_rand_score(t, p)),
        "nmi": float(normalized_mutual_info_score(t, p)),
        "purity": purity(t, p),
    }


def evaluate_clusters(
    col: Collection,
    *,
    algos: Sequence[str] = ("kmeans", "graph", "hdbscan"),
    k: int | None = None,
    groups: dict[str, str] | None = None,
    model: str | None = None,
    pooling: str | None = None,
    seed: int = 0,
    progress: Callable[[Progress], None] | None = None,
) -> ClusterEvaluation:
    """Cluster the labelled images of a collection with each algorithm (k-means twice:
    with ``k``, by default the number of classes, and with the automatic k) and score
    each partition against the classes (sub-folders or ``groups``)."""
    unknown = [a for a in algos if a not in ALGOS or a == "auto"]
    if unknown:
        raise InvalidOptionError(f"unknown algorithm {unknown[0]!r}: use kmeans, graph or hdbscan")
    table = col.vectors(model=model, pooling=pooling)
    keep, names = labels_for(table.paths, groups)
    _, truth = np.unique(np.asarray(names), return_inverse=True)
    x = normalize(table.vectors[keep])
    classes = int(truth.max()) + 1
    largest_class = int(np.bincount(truth).max())
    runs: list[tuple[str, str, int | None]] = []
    for algo in algos:
        if algo == "kmeans":
            runs.append((algo, "given", k or classes))
        runs.append((algo, "automatic", None))
    rows = []
    for i, (algo, mode, given) in enumerate(runs):
        t0 = time.perf_counter()
        labels, criterion, _ = cluster_labels(x, algo=algo, k=given, seed=seed)
        seconds = time.perf_counter() - t0
        scores = score_labels(truth, labels)
        sizes = np.bincount(labels[labels >= 0]) if (labels >= 0).any() else np.zeros(1)
        rows.append(
            ClusterScore(
                algo=algo,
                k=f"given ({given})" if given else mode,
                clusters=int((sizes > 0).sum()),
                ari=round(scores["ari"], 4),
                nmi=round(scores["nmi"], 4),
                purity=round(scores["purity"], 4),
                largest=round(float(sizes.max()) / largest_class, 3),
                outliers=int((labels < 0).sum()),
                seconds=round(seconds, 2),
                criterion=criterion,
            )
        )
        if progress:
            progress(Progress("clusters", i + 1, len(runs)))
    return ClusterEvaluation(col.root, table.vector_set, len(x), classes, rows)
