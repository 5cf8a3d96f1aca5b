"""Grids of configurations (encoder x pooling x metric x index) scored on one labelled
collection, in the origin report's table shape, with a chart and pictures of the best
and worst queries of each configuration."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

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


def labels_for(paths: Sequence[str], groups: dict[str, str] | None) -> tuple[list[int], list[str]]:
    """Rows that have a label, and the labels: the first folder of each path, or the
    ``groups`` mapping (path -> group) when given."""
    keep, labels = [], []
    for i, p in enumerate(paths):
        if groups is not None:
            if p in groups:
                keep.append(i)
                labels.append(groups[p])
        elif "/" in p:
            keep.append(i)
            labels.append(p.split("/", 1)[0])
    if not keep:
        raise LookalikeError("no labelled images: use class sub-folders or --groups FILE")
    return keep, labels


def read_groups(path: Path) -> dict[str, str]:
    """A JSON object or a two-column CSV mapping image path (relative) to group."""
    text = path.read_text()
    if path.suffix.lower() == ".json":
        return {str(k): str(v) for k, v in json.loads(text).items()}
    rows = csv.reader(io.StringIO(text))
    return {r[0]: r[1] for r in rows if len(r) >= 2 and r[0] != "path"}


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


def run_grid(
    col: Collection,
    *,
    models: Sequence[str],
    poolings: Sequence[str],
    metrics: Sequence[str],
    indexes: Sequence[str],
    k: int = 8,
    groups: dict[str, str] | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> list[GridRow]:
    """Score every configuration. Vectors already in the catalogue are reused; what is
    missing is embedded in one pass per model: every image decoded once, and the
    poolings of one network computed from one forward pass. No poolings means each
    encoder's default."""
    rows: list[GridRow] = []
    for model in models:
        spec = resolve_spec(model, col.db)
        encoders = _encoders(spec.name, spec.options, poolings)
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
                    ev = evaluate(vectors, labels, k=k, metric=metric, index=kind)
                    config = Config(model, encoder.pooling, metric, kind, scheduler)
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
