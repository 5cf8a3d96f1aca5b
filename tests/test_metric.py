"""Learning the collection: the metric head, its cross-validated evaluation, and
re-ranking at search time."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.cli.main import main
from lookalike.collection import Collection
from lookalike.encoders import create_encoder
from lookalike.errors import EncoderOutputError, LookalikeError, UnsupportedPoolingError
from lookalike.evaluation.folds import evaluate_folds, fold_of
from lookalike.evaluation.grid import run_grid
from lookalike.training.metric import (
    HEAD_POOLING,
    MetricConfig,
    backbone_encoder,
    fit_whitening,
    train_metric,
)

TINY = MetricConfig(backbone="test-tiny", pooling=None, epochs=40, batch_size=32, dim=16)


def nuisance_set(root: Path, groups: int = 3, per_group: int = 10, seed: int = 0) -> Path:
    """Images whose group is a small bright mark in one corner, under a background whose
    brightness (random, unrelated to the group) dominates the raw pixels."""
    rng = np.random.default_rng(seed)
    corners = [(0, 0), (0, 5), (5, 0), (5, 5)]
    backgrounds = np.array([[200, 40, 40], [40, 200, 40], [40, 40, 200], [180, 180, 60]])
    for g in range(groups):
        (root / f"g{g}").mkdir(parents=True, exist_ok=True)
        for i in range(per_group):
            px = np.ones((8, 8, 3)) * backgrounds[rng.integers(len(backgrounds))]
            px += rng.normal(0, 6, px.shape)
            r, c = corners[g]
            px[r : r + 3, c : c + 3] += 25
            Image.fromarray(px.clip(0, 255).astype(np.uint8)).save(root / f"g{g}" / f"{i}.png")
    return root


def precision_at(vectors: np.ndarray, labels: np.ndarray, k: int) -> float:
    x = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    s = x @ x.T
    np.fill_diagonal(s, -np.inf)
    top = np.argsort(-s, axis=1)[:, :k]
    return float((labels[top] == labels[:, None]).mean())


def test_head_ranks_the_group_first_where_the_plain_encoder_does_not(tmp_path: Path) -> None:
    root = nuisance_set(tmp_path / "set")
    with Collection.open(root) as col:
        report = train_metric(col, col.db / "models" / "head", TINY)
        assert (report.labelled, report.classes, report.dim) == (30, 3, 16)
        assert len(report.history) == 40 and (col.db / "models" / "head" / "loss.png").is_file()
        col.index(model="head", workers=1)
        plain = col.vectors(model="test-tiny")
        head = col.vectors(model="head")
    labels = np.array([p.split("/")[0] for p in plain.paths])
    assert [p.split("/")[0] for p in head.paths] == labels.tolist()
    before, after = precision_at(plain.vectors, labels, 5), precision_at(head.vectors, labels, 5)
    assert before < 0.75 and after >= 0.9, (before, after)


def test_head_encoder_refuses_mismatches(tmp_path: Path) -> None:
    root = nuisance_set(tmp_path / "set")
    with Collection.open(root) as col:
        train_metric(col, col.db / "models" / "head", TINY)
        run = col.db / "models" / "head"
    with pytest.raises(UnsupportedPoolingError, match="leave out --pooling"):
        create_encoder("metric-head", head=str(run), pooling="avg")
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**cfg, "backbone_key": "test-tiny|x|8|t0"}))
    with pytest.raises(EncoderOutputError, match="train it again"):
        create_encoder("metric-head", head=str(run))
    with pytest.raises(LookalikeError, match="no trained metric head"):
        create_encoder("metric-head", head=str(tmp_path))


def test_partial_labels_and_no_labels(tmp_path: Path) -> None:
    root = nuisance_set(tmp_path / "set")
    mapping = {f"g{g}/{i}.png": f"kind{g}" for g in range(3) for i in range(4)}
    with Collection.open(root) as col:
        some = train_metric(col, col.db / "models" / "some", TINY, groups=mapping)
        none = train_metric(col, col.db / "models" / "none", replace(TINY, labels="none"))
    assert (some.images, some.labelled, some.classes) == (30, 12, 3)
    assert (none.labelled, none.classes, none.history) == (0, 0, [])
    assert none.dim <= 192  # whitening keeps the backbone's (non-degenerate) directions


def test_heads_learn_from_the_layout_pooling_where_the_backbone_has_it() -> None:
    """EfficientNet backbones give heads their ``layout`` vectors; a backbone without that
    pooling gives its own; an explicit pooling wins."""
    lite = backbone_encoder(MetricConfig())
    assert (lite.name, lite.pooling, HEAD_POOLING) == ("efficientnet-lite0", "layout", "layout")
    assert lite.dim == 9 * (112 + 192)
    assert backbone_encoder(MetricConfig(backbone="test-tiny")).name == "test-tiny"
    assert backbone_encoder(MetricConfig(pooling="avg")).pooling == "avg"
    with pytest.raises(UnsupportedPoolingError):
        backbone_encoder(MetricConfig(pooling="mean"))


def test_whitening_evens_out_directions() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 6)) * np.array([10, 5, 1, 1, 1, 1])
    head = fit_whitening(x.astype(np.float32), power=0.5, shrink=0.0)
    z = (x / np.linalg.norm(x, axis=1, keepdims=True) - head.mean) @ head.projection
    spread = z.std(axis=0)
    assert spread.max() / spread.min() < 1.5  # fully whitened: every direction alike


def test_folds_split_each_class_and_never_leak(tmp_path: Path) -> None:
    codes = np.repeat(np.arange(4), 10)
    part = fold_of(codes, 5)
    for c in range(4):
        assert sorted(np.bincount(part[codes == c], minlength=5).tolist()) == [2] * 5
    # pure-noise images with arbitrary labels: a head that saw the queries' labels would
    # memorise them (P@4 near 1); scored honestly it stays near chance (1/6)
    rng = np.random.default_rng(1)
    root = tmp_path / "noise"
    for g in range(6):
        (root / f"c{g}").mkdir(parents=True)
        for i in range(10):
            px = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(px).save(root / f"c{g}" / f"{i}.png")
    cfg = replace(TINY, epochs=60, dim=32)
    with Collection.open(root) as col:
        honest, paths, labels = evaluate_folds(col, folds=5, k=4, cfg=cfg)
        col.index(model="test-tiny", workers=1)
        train_metric(col, col.db / "models" / "leaky", cfg)
        col.index(model="leaky", workers=1)
        leaky = col.vectors(model="leaky")
    assert honest.queries == 60 and len(paths) == 60 and len(set(labels)) == 6
    leaked = precision_at(leaky.vectors, np.array([p[:2] for p in leaky.paths]), 4)
    assert leaked > 0.8 and honest.summary["P@4"].mean < 0.45, (leaked, honest.summary)


def test_evaluate_refuses_a_head_on_its_own_labels(tmp_path: Path) -> None:
    root = nuisance_set(tmp_path / "set")
    with Collection.open(root) as col:
        train_metric(col, col.db / "models" / "head", TINY)
        with pytest.raises(LookalikeError, match="--folds"):
            run_grid(col, models=["head"], poolings=[], metrics=["cosine"], indexes=["exact"])
        with pytest.raises(LookalikeError, match="--folds"):
            run_grid(col, models=["metric"], poolings=[], metrics=["cosine"], indexes=["exact"])


def test_rerank_is_the_same_through_every_index(photos: Path) -> None:
    with Collection.open(photos) as col:
        col.index(model="test-tiny", workers=1)
        query = next(p for p in sorted(photos.glob("*.jpg")))
        answers = {}
        for kind in ("exact", "hnsw", "ivf"):
            col.index(model="test-tiny", workers=1, index=kind)
            result = col.search(query, k=6, rerank=True)
            assert result.rerank and result.index == kind
            answers[kind] = [m.path for m in result.matches]
        plain = [m.path for m in col.search(query, k=6).matches]
        # k=1 still expands the query by as many neighbours as k=6 does
        one = [m.path for m in col.search(query, k=1, rerank=True).matches]
    assert one == answers["ivf"][:1]
    assert answers["exact"] == answers["hnsw"] == answers["ivf"]
    assert len(answers["exact"]) == 6 and query not in answers["exact"]
    assert set(answers["exact"]) & set(plain)


def test_train_cli_metric_rerun_and_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = nuisance_set(tmp_path / "set")
    args = [
        "train",
        str(root),
        "--arch",
        "metric",
        "--backbone",
        "test-tiny",
        "--epochs",
        "5",
        "--name",
        "mine",
    ]
    assert main(args) == 0
    assert main(args) == 0  # a rerun gets a new name, and the same head (seeded)
    runs = root / ".lookalike" / "models"
    with np.load(runs / "mine" / "head.npz") as a, np.load(runs / "mine-2" / "head.npz") as b:
        assert np.array_equal(a["projection"], b["projection"])
    text = capsys.readouterr().out
    assert "30 labelled in 3 groups" in text and "--model mine" in text
    assert main(["index", str(root), "--model", "mine-2"]) == 0
    assert main(["models", str(root)]) == 0
    assert "metric" in capsys.readouterr().out
    assert (
        main(
            ["train", str(root), "--arch", "metric", "--labels", "none", "--backbone", "test-tiny"]
        )
        == 0
    )
    assert "no labels: whitening" in capsys.readouterr().out
