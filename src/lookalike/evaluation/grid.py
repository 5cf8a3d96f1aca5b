"""Grids of configurations (encoder x pooling x metric x index) scored on one labelled
collection, in the origin report's table shape, with a chart and pictures of the best
and worst queries of each configuration."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.collection import Collection
from lookalike.encoders import Encoder, create_encoder
from lookalike.encoders.resolve import resolve_spec
from lookalike.errors import (
    InvalidOptionError,
    LookalikeError,
    UnknownEncoderError,
    UnsupportedPoolingError,
)
from lookalike.evaluation.metrics import Evaluation, evaluate
from lookalike.results import Progress
from lookalike.store import write_bytes_atomic
from lookalike.training.labels import labels_for

METRIC_NAMES = ("P@{k}", "recall@{k}", "mAP", "R-precision")


@dataclass(frozen=True)
class Config:
    """One point of the grid."""

    model: str
    pooling: str | None
    metric: str
    index: str
    scheduler: str = "-"

    @property
    def label(self) -> str:
        return f"{self.model} · {self.pooling or '-'} · {self.metric} · {self.index}"


@dataclass(frozen=True)
class GridRow:
    """A configuration and what it scored."""

    config: Config
    evaluation: Evaluation
    paths: list[str]
    labels: list[str]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``: the configuration and each mean with its interval."""
        c, ev = self.config, self.evaluation
        return {
            "model": c.model,
            "scheduler": c.scheduler,
            "pooling": c.pooling,
            "metric": c.metric,
            "index": c.index,
            "queries": ev.queries,
            "scores": {
                name: {"mean": round(v.mean, 4), "low": round(v.low, 4), "high": round(v.high, 4)}
                for name, v in ev.summary.items()
            },
        }


def _encoders(name: str, base: dict[str, object], poolings: Sequence[str]) -> list[Encoder]:
    """The encoders of one model for the asked poolings. A pooling the model does not
    offer is skipped; when it offers none of them (or none is asked) its own default is
    used, and the table says which. Encoders without poolings are built once."""
    found: dict[str, Encoder] = {}
    for pooling in poolings:
        try:
            encoder = create_encoder(name, **base, pooling=pooling)
        except UnsupportedPoolingError:
            continue
        except (InvalidOptionError, UnknownEncoderError):
            break  # takes no pooling option (or is unknown: the default build says so)
        found.setdefault(encoder.key, encoder)
    if not found:
        encoder = create_encoder(name, **base)
        found[encoder.key] = encoder
    return list(found.values())


#: ``--model metric``: a metric head trained per fold on the other folds' labels.
METRIC_MODEL = "metric"


def _refuse_own_labels(
    col: Collection, model: str, spec_name: str, options: dict[str, Any]
) -> None:
    """A head trained on this collection's labels would be scored on its training data."""
    if spec_name != "metric-head":
        return
    from lookalike.encoders.metric_head import head_config

    cfg = head_config(str(options["head"]))
    if cfg.get("labels") != "none" and cfg.get("trained_on") == str(col.root):
        raise LookalikeError(
            f"{model} was trained on the labels of {col.root}: scoring it on them would "
            f"flatter it; use --model metric --folds 5 (one head per fold, queried only "
            f"with images whose labels it never saw)"
        )


def run_grid(
    col: Collection,
    *,
    models: Sequence[str],
    poolings: Sequence[str],
    metrics: Sequence[str],
    indexes: Sequence[str],
    k: int = 8,
    groups: dict[str, str] | None = None,
    folds: int | None = None,
    rerank: bool = False,
    precisions: Sequence[str] = ("fp32",),
    progress: Callable[[Progress], None] | None = None,
) -> list[GridRow]:
    """Score every configuration. Vectors already in the catalogue are reused; what is
    missing is embedded in one pass per model: every image decoded once, and the
    poolings of one network computed from one forward pass. No poolings means each
    encoder's default. ``rerank`` adds a re-ranked row beside each plain one; the model
    ``metric`` is a head cross-validated over ``folds`` parts of the labels."""
    rows: list[GridRow] = []
    passes = (False, True) if rerank else (False,)
    for model in models:
        if model == METRIC_MODEL:
            rows += _metric_rows(col, metrics, indexes, k, groups, folds, passes, progress)
            continue
        spec = resolve_spec(model, col.db)
        _refuse_own_labels(col, model, spec.name, spec.options)
        encoders = []
        for precision in precisions:
            extra = {} if precision == "fp32" else {"precision": precision}
            encoders += _encoders(spec.name, {**spec.options, **extra}, poolings)
        same_input: dict[object, list[Encoder]] = {}
        for encoder in encoders:
            same_input.setdefault(encoder.preprocess, []).append(encoder)
        for group in same_input.values():
            col.index(group[0], also=group[1:], progress=progress, make_default=False)
        for encoder in encoders:
            scheduler = str(getattr(encoder, "training", {}).get("scheduler") or "-")
            table = col.vectors(key=encoder.key)
            keep, labels = labels_for(table.paths, groups)
            vectors = table.vectors[keep]
            paths = [table.paths[i] for i in keep]
            for metric in metrics:
                for kind in indexes:
                    for again in passes:
                        ev = evaluate(vectors, labels, k=k, metric=metric, index=kind, rerank=again)
                        shown = f"{kind}+rerank" if again else kind
                        precision = getattr(encoder, "precision", "fp32")
                        name = model if precision == "fp32" else f"{model} ({precision})"
                        config = Config(name, encoder.pooling, metric, shown, scheduler)
                        rows.append(GridRow(config, ev, paths, labels))
    return rows


def _metric_rows(
    col: Collection,
    metrics: Sequence[str],
    indexes: Sequence[str],
    k: int,
    groups: dict[str, str] | None,
    folds: int | None,
    passes: Sequence[bool],
    progress: Callable[[Progress], None] | None,
) -> list[GridRow]:
    """Rows of the cross-validated metric head (exact search only: every fold has its
    own vectors, so no index is built for them)."""
    from lookalike.evaluation.folds import evaluate_folds
    from lookalike.training.metric import MetricConfig, backbone_vectors

    if not folds:
        raise LookalikeError(
            "--model metric trains a head on the labels: add --folds 5 so that each image "
            "is scored by a head that never saw its label"
        )
    if any(kind != "exact" for kind in indexes):
        raise InvalidOptionError("--model metric is scored with the exact index only")
    cfg = MetricConfig()
    backbone = backbone_vectors(col, cfg, progress)
    rows = []
    for metric in metrics:
        for again in passes:
            ev, paths, labels = evaluate_folds(
                col,
                groups=groups,
                folds=folds,
                k=k,
                metric=metric,
                rerank=again,
                cfg=cfg,
                backbone=backbone,
                progress=progress,
            )
            shown = "exact+rerank" if again else "exact"
            config = Config(f"metric ({folds} folds)", backbone.pooling, metric, shown, cfg.loss)
            rows.append(GridRow(config, ev, paths, labels))
    return rows


def to_markdown(rows: Sequence[GridRow]) -> str:
    """The report's table shape: model, scheduler, embedding method, metric, index, scores."""
    k = rows[0].evaluation.k if rows else 8
    names = [n.format(k=k) for n in METRIC_NAMES]
    head = ["model", "scheduler", "embedding", "metric", "index", "queries", *names]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        c, s = r.config, r.evaluation.summary
        cells = [
            c.model,
            c.scheduler,
            c.pooling or "-",
            c.metric,
            c.index,
            f"{r.evaluation.queries:,}",
        ]
        cells += [f"{s[n].mean:.3f} [{s[n].low:.3f}, {s[n].high:.3f}]" for n in names]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(rows: Sequence[GridRow]) -> str:
    """One line per configuration, means and interval bounds."""
    k = rows[0].evaluation.k if rows else 8
    names = [n.format(k=k) for n in METRIC_NAMES]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        ["model", "scheduler", "pooling", "metric", "index", "queries"]
        + [f"{n}{suffix}" for n in names for suffix in ("", "_low", "_high")]
    )
    for r in rows:
        c, s = r.config, r.evaluation.summary
        w.writerow(
            [c.model, c.scheduler, c.pooling or "", c.metric, c.index, r.evaluation.queries]
            + [f"{v:.4f}" for n in names for v in (s[n].mean, s[n].low, s[n].high)]
        )
    return buf.getvalue()


def bar_chart(rows: Sequence[GridRow], out: Path) -> Path:
    """Headline metric per configuration, with its 95% interval, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    name = rows[0].evaluation.headline if rows else "mAP"
    means = [r.evaluation.summary[name].mean for r in rows]
    err = [
        [m - r.evaluation.summary[name].low for m, r in zip(means, rows, strict=True)],
        [r.evaluation.summary[name].high - m for m, r in zip(means, rows, strict=True)],
    ]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.2))
    labels = [r.config.label for r in rows]
    ax.barh(range(len(rows)), means, xerr=err, color="#3b7dd8", capsize=3)
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"mean {name} (95% bootstrap interval)")
    for i, m in enumerate(means):
        ax.text(min(m + 0.02, 0.9), i, f"{m:.3f}", va="center", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return write_bytes_atomic(Path(out), buf.getvalue())


def query_sheets(row: GridRow, root: Path, out: Path, n: int = 3) -> Path:
    """The ``n`` best and worst queries of a configuration (by AP), each with its top-k:
    framed queries, results marked same class (green) or other (red)."""
    from lookalike.render.grid import Tile, render_tiles, save_image

    ev = row.evaluation
    answerable = np.flatnonzero(ev.scores.relevant > 0)
    order = answerable[np.argsort(ev.scores.average_precision[answerable], kind="stable")]
    picks = [("best", i) for i in order[::-1][:n]] + [("worst", i) for i in order[:n]]
    tiles = []
    k = ev.k
    for kind, qi in picks:
        tiles.append(
            Tile(
                root / row.paths[qi],
                f"{kind} · AP {ev.scores.average_precision[qi]:.2f}",
                row.labels[qi],
                True,
            )
        )
        for j in ev.rankings[qi][:k]:
            if j < 0:
                tiles.append(Tile(None, ""))
                continue
            same = row.labels[j] == row.labels[qi]
            tiles.append(
                Tile(
                    root / row.paths[j],
                    "same" if same else "other",
                    row.labels[j],
                    tone="good" if same else "bad",
                )
            )
    img = render_tiles(
        f"{row.config.label}: best and worst queries", tiles, thumb=120, columns=k + 1
    )
    return save_image(img, out)
