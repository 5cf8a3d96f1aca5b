"""Learn the collection: a metric head on a pretrained backbone's vectors.

The backbone's vectors are the collection's own (``Collection.index`` computes each image
once and keeps it), so the head trains on them in seconds. They are the backbone's
``layout`` pooling (two stage ends of the network, each averaged over a 3x3 grid): on the
tuning sets it beat the search default ``multi`` under both stages, label-free (P@8
Fashion-MNIST 0.794 -> 0.820, digits 0.890 -> 0.970, same-coin recall@7 on the icons
0.51 -> 0.68) and with labels (Fashion-MNIST five folds 0.871 -> 0.888). Two stages, each
chosen by measurement on tuning sets when the head read ``multi`` vectors (the figures
below are from then; docs/results.md has both):

1. **Whitening, learned from the collection alone** (no labels): the vectors are centred
   and each principal direction is divided by its variance to the power ``whiten_power``
   (0.25), with the variances shrunk towards their mean (``whiten_shrink`` = 2) so rare
   directions are not blown up. Directions that every image shares (background, style)
   stop dominating the cosine. Tuning sets: logos in four styles, same-coin recall@7
   0.27 -> 0.51; digits P@8 +0.02; Fashion-MNIST -0.007.
2. **With labels**, a linear projection to ``dim`` (256) floats trained on the whitened
   vectors of the labelled images with the supervised contrastive loss (every other
   image of the class is a positive, temperature 0.1), or the triplet loss with the
   hardest positive and negative of each batch (the origin report's cited method).
   Five-fold P@8 / mAP on Fashion-MNIST's training split: 0.870 / 0.879 supervised
   contrastive, 0.872 / 0.870 triplet, 0.802 / 0.56 without training; on scikit-learn's
   digits 0.978 / 0.977 and 0.981 / 0.973. The two tie on P@8; the supervised
   contrastive loss ranks the whole class better (mAP), so it is the default.

The head is stored as one centre and one matrix (``head.npz``), so encoding needs no
PyTorch.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from lookalike.collection import Collection
from lookalike.encoders import Encoder, create_encoder
from lookalike.encoders.metric_head import CONFIG_FILE, HEAD_FILE, project
from lookalike.errors import InvalidOptionError, LookalikeError, UnsupportedPoolingError
from lookalike.index.base import normalize
from lookalike.store import write_bytes_atomic
from lookalike.training.labels import label_codes

LOSSES = ("supcon", "triplet")
#: The backbone pooling a head learns from, where the backbone offers it.
HEAD_POOLING = "layout"
#: At least this many optimiser steps in a training, however few the labelled images.
MIN_STEPS = 600


@dataclass(frozen=True)
class MetricConfig:
    """How a metric head is trained."""

    backbone: str = "efficientnet-lite0"
    pooling: str | None = None  # None: HEAD_POOLING where the backbone has it, else its own
    labels: str = "folders"  # folders, none, or a file's path
    loss: str = "supcon"
    dim: int = 256
    epochs: int = 30
    batch_size: int = 256
    lr: float = 1e-3
    temperature: float = 0.1
    margin: float = 0.2
    whiten_power: float = 0.25
    whiten_shrink: float = 2.0
    val_split: float = 0.1
    seed: int = 0

    def check(self) -> None:
        """Refuse settings that cannot train."""
        if self.loss not in LOSSES:
            raise InvalidOptionError(f"loss must be one of {', '.join(LOSSES)}, not {self.loss!r}")
        if self.dim < 2 or self.epochs < 1 or self.batch_size < 4:
            raise InvalidOptionError("dim must be at least 2, epochs 1 and batch size 4")
        if not 0 <= self.val_split < 0.5:
            raise InvalidOptionError("val_split must be in [0, 0.5)")


@dataclass(frozen=True)
class MetricEpoch:
    """One epoch of a head's training."""

    epoch: int
    train_loss: float
    val_loss: float | None
    lr: float
    seconds: float
    images_per_second: float


@dataclass(frozen=True)
class MetricProgress:
    """Where a head's training is: reported once per batch."""

    epoch: int
    epochs: int
    batch: int
    batches: int
    loss: float
    images_per_second: float


@dataclass(frozen=True)
class MetricReport:
    """What ``train_metric`` made."""

    run: Path
    images: int
    labelled: int
    classes: int
    dim: int
    history: list[MetricEpoch]
    seconds: float
    backbone_seconds: float


@dataclass(frozen=True)
class Head:
    """A centre and a projection: unit vector ``x`` -> ``normalize((x - mean) @ projection)``."""

    mean: NDArray[np.float32]
    projection: NDArray[np.float32]

    def __call__(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        return project(x, self.mean, self.projection)


def fit_whitening(x: NDArray[np.float32], power: float, shrink: float) -> Head:
    """Partial PCA whitening of unit rows, learned from the rows alone."""
    x = normalize(np.asarray(x, np.float32))
    mean = x.mean(axis=0)
    centred = (x - mean).astype(np.float64)
    # The covariance's eigenvectors: a d x d problem however many rows (an SVD of the
    # rows themselves costs n x d^2 and also computes the n x d left vectors).
    variance, vectors = np.linalg.eigh(centred.T @ centred / max(1, len(x) - 1))
    keep = variance > variance.max() * 1e-9
    variance, vectors = variance[keep][::-1], vectors[:, keep][:, ::-1]
    scale = (variance + shrink * variance.mean()) ** -power
    return Head(mean.astype(np.float32), (vectors * scale).astype(np.float32))


def _loss(z: Any, y: Any, cfg: MetricConfig) -> Any:
    import torch

    same = y[:, None] == y[None, :]
    eye = torch.eye(len(y), dtype=torch.bool)
    positives = same & ~eye
    has = positives.any(dim=1)
    if not bool(has.any()):
        return None
    sim = z @ z.T
    if cfg.loss == "supcon":
        logits = (sim / cfg.temperature).masked_fill(eye, -1e9)
        logp = logits - torch.logsumexp(logits, dim=1, keepdim=True)
        per = -(logp * positives).sum(dim=1)[has] / positives.sum(dim=1)[has]
        return per.mean()
    hardest_pos = sim.masked_fill(~positives, 9.0).min(dim=1).values
    hardest_neg = sim.masked_fill(same, -9.0).max(dim=1).values
    return torch.relu(hardest_neg - hardest_pos + cfg.margin)[has].mean()


def _batches(y: NDArray[np.int64], size: int, rng: np.random.Generator) -> list[NDArray[np.int64]]:
    """Shuffled batches in which most images have another of their class: classes are
    drawn in pairs of images, so small classes still give positives."""
    order = []
    for c in rng.permutation(np.unique(y)):
        rows = rng.permutation(np.flatnonzero(y == c))
        order.extend(rows[i : i + 2] for i in range(0, len(rows), 2))
    chunks = [order[i] for i in rng.permutation(len(order))]
    flat = np.concatenate(chunks) if chunks else np.zeros(0, np.int64)
    return [flat[i : i + size] for i in range(0, len(flat), size) if len(flat[i : i + size]) > 1]


def train_head(
    x: NDArray[np.float32],
    y: NDArray[np.int64],
    cfg: MetricConfig,
    progress: Callable[[MetricProgress], None] | None = None,
    *,
    white: Head | None = None,
) -> tuple[Head, list[MetricEpoch]]:
    """Whitening from every row (``white``, when already fitted on these rows), then
    (when ``y`` labels at least two classes) a linear projection trained on the labelled
    rows. ``y`` is -1 for unlabelled rows."""
    white = white or fit_whitening(x, cfg.whiten_power, cfg.whiten_shrink)
    labelled = np.flatnonzero(y >= 0)
    classes = np.unique(y[labelled])
    if len(classes) < 2:
        return white, []
    import torch

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    xw = white(x)
    hold = rng.random(len(labelled)) < cfg.val_split
    train_rows, val_rows = labelled[~hold], labelled[hold]
    xt, yt = torch.from_numpy(xw[train_rows]), torch.from_numpy(y[train_rows])
    xv, yv = torch.from_numpy(xw[val_rows]), torch.from_numpy(y[val_rows])
    linear = torch.nn.Linear(xw.shape[1], cfg.dim, bias=False)
    opt = torch.optim.AdamW(linear.parameters(), lr=cfg.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    history = []
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        batches = _batches(y[train_rows], cfg.batch_size, rng)
        while len(batches) * cfg.epochs < MIN_STEPS:  # small collections: more passes
            batches += _batches(y[train_rows], cfg.batch_size, rng)
        losses, seen = [], 0
        lr = opt.param_groups[0]["lr"]
        for b, rows in enumerate(batches, 1):
            z = torch.nn.functional.normalize(linear(xt[rows]), dim=1)
            loss = _loss(z, yt[rows], cfg)
            if loss is None:
                continue
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            seen += len(rows)
            if progress:
                rate = seen / max(1e-9, time.perf_counter() - t0)
                progress(MetricProgress(epoch, cfg.epochs, b, len(batches), losses[-1], rate))
        sched.step()
        val = None
        if len(val_rows) > 1:
            with torch.no_grad():
                vloss = _loss(torch.nn.functional.normalize(linear(xv), dim=1), yv, cfg)
            val = float(vloss) if vloss is not None else None
        seconds = time.perf_counter() - t0
        history.append(
            MetricEpoch(
                epoch,
                float(np.mean(losses)) if losses else 0.0,
                val,
                lr,
                seconds,
                seen / max(seconds, 1e-9),
            )
        )
    weight = linear.weight.detach().numpy().T.astype(np.float32)  # (d_in, dim)
    return Head(white.mean, (white.projection @ weight).astype(np.float32)), history


def backbone_encoder(cfg: MetricConfig) -> Encoder:
    """The pretrained encoder under the head: with ``cfg.pooling``, or else
    ``HEAD_POOLING`` where the backbone offers it, or else its own default."""
    if cfg.pooling:
        return create_encoder(cfg.backbone, pooling=cfg.pooling)
    try:
        return create_encoder(cfg.backbone, pooling=HEAD_POOLING)
    except (InvalidOptionError, UnsupportedPoolingError):  # the backbone has no such pooling
        return create_encoder(cfg.backbone)


@dataclass(frozen=True)
class Backbone:
    """Every image's backbone vector (unit rows) and what made them."""

    paths: list[str]
    vectors: NDArray[np.float32]
    key: str
    pooling: str | None
    image_size: int
    seconds: float  # spent embedding what was missing


def backbone_vectors(
    col: Collection, cfg: MetricConfig, progress: Callable[[Any], None] | None = None
) -> Backbone:
    """Every image's backbone vector, embedded where missing (the collection's default
    set is left as it is)."""
    encoder = backbone_encoder(cfg)
    t0 = time.perf_counter()
    col.index(encoder, progress=progress, make_default=False)
    seconds = time.perf_counter() - t0
    table = col.vectors(key=encoder.key)
    return Backbone(
        table.paths,
        normalize(table.vectors),
        encoder.key,
        encoder.pooling,
        encoder.preprocess.size,
        seconds,
    )


def save_head(run: Path, head: Head, settings: dict[str, Any], history: list[MetricEpoch]) -> None:
    """Write a head's run folder: the head, its settings, history and loss curve."""
    import io

    buf = io.BytesIO()
    np.savez(buf, mean=head.mean, projection=head.projection)
    run.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(run / HEAD_FILE, buf.getvalue())
    write_bytes_atomic(run / CONFIG_FILE, json.dumps(settings, indent=2).encode())
    write_bytes_atomic(
        run / "history.json", json.dumps([asdict(h) for h in history], indent=2).encode()
    )
    if history:
        from lookalike.training.artifacts import plot_history

        plot_history(history, run / "loss.png", f"metric head ({settings['loss']})")


def train_metric(
    col: Collection,
    run: Path,
    cfg: MetricConfig,
    *,
    groups: dict[str, str] | None = None,
    index_progress: Callable[[Any], None] | None = None,
    progress: Callable[[MetricProgress], None] | None = None,
) -> MetricReport:
    """Train a metric head on a collection and write it to ``run``.

    ``cfg.labels`` is ``folders``, ``none``, or a file's path (then ``groups`` holds its
    mapping). Images without a label still shape the whitening.
    """
    cfg.check()
    t0 = time.perf_counter()
    backbone = backbone_vectors(col, cfg, index_progress)
    paths, x = backbone.paths, backbone.vectors
    mode: str | dict[str, str] = groups if groups is not None else cfg.labels
    if mode not in ("folders", "none") and not isinstance(mode, dict):
        raise LookalikeError(f"labels must be folders, none or a file, not {cfg.labels!r}")
    y, classes = label_codes(paths, mode)
    if cfg.labels != "none" and len(classes) < 2:
        raise LookalikeError(
            f"found {len(classes)} label group(s) in {col.root}: a head needs two or more "
            "(sub-folders, or a labels file); use --labels none to learn from the images alone"
        )
    head, history = train_head(x, y, cfg, progress)
    settings = {
        "arch": "metric",
        **asdict(cfg),
        "pooling": backbone.pooling,
        "backbone_key": backbone.key,
        "image_size": backbone.image_size,
        "scheduler": "cosine" if history else "-",
        "out_dim": int(head.projection.shape[1]),
        "images": len(paths),
        "labelled": int((y >= 0).sum()),
        "classes": len(classes),
        "trained_on": str(col.root),
        "trained_at": time.time(),
    }
    if not history:
        settings["epochs"] = 0  # whitening only: nothing iterates
    save_head(run, head, settings, history)
    return MetricReport(
        run,
        len(paths),
        int((y >= 0).sum()),
        len(classes),
        int(head.projection.shape[1]),
        history,
        time.perf_counter() - t0,
        backbone.seconds,
    )
