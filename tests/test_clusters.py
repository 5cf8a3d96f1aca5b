"""Clusters: k-means at the true k, the automatic k, the graph communities, the measure
against classes, and the default vector set that evaluation must leave alone."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from lookalike.cli.main import main
from lookalike.collection import Collection
from lookalike.errors import InvalidOptionError
from lookalike.evaluation.clusters import purity, score_labels
from lookalike.evaluation.grid import run_grid
from lookalike.grouping.choose_k import choose_k
from lookalike.grouping.clusters import cluster_labels
from lookalike.grouping.kmeans import by_size, kmeans_labels


def blobs(n: int, seed: int = 0, dim: int = 1000, k: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """``k`` well-separated Gaussian blobs of unequal size (1 to 6 parts) in ``dim`` dims."""
    rng = np.random.default_rng(seed)
    weights = rng.uniform(1, 6, k)
    sizes = np.maximum(3, np.round(weights / weights.sum() * n)).astype(int)
    truth = np.repeat(np.arange(k), sizes)
    x = rng.normal(size=(k, dim))[truth] + rng.normal(size=(len(truth), dim))
    return x.astype(np.float32), truth


@pytest.mark.parametrize("n", [300, 1000])
def test_given_k_recovers_unequal_blobs(n: int) -> None:
    x, truth = blobs(n)
    labels, criterion, choice = cluster_labels(x, algo="kmeans", k=20)
    assert adjusted_rand_score(truth, labels) >= 0.95
    assert criterion == "k = 20 given" and choice is None
    assert len(np.unique(labels)) == 20


@pytest.mark.parametrize("n", [300, 1000])
def test_automatic_k_lands_near_the_true_number(n: int) -> None:
    x, truth = blobs(n, seed=1)
    labels, criterion, choice = cluster_labels(x, algo="kmeans")
    assert choice is not None and 15 <= choice.k <= 25, choice.scores
    assert "modularity" in criterion
    assert len(choice.runners_up()) == 4 and choice.runners_up()[0][0] != choice.k
    assert adjusted_rand_score(truth, labels) >= 0.85
    graph, _, _ = cluster_labels(x, algo="graph")
    assert 15 <= len(np.unique(graph)) <= 25


def test_at_least_as_good_as_scikit_learn_on_the_same_vectors() -> None:
    x, truth = blobs(600, seed=2)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    reference = KMeans(20, n_init=10, random_state=0).fit_predict(unit)
    ours = kmeans_labels(x, 20, seed=0)
    assert adjusted_rand_score(truth, ours) >= adjusted_rand_score(truth, reference) - 1e-9


def test_seeded_runs_are_deterministic() -> None:
    x, _ = blobs(400, seed=3)
    a = choose_k(x, seed=7)
    b = choose_k(x, seed=7)
    assert a == b
    assert np.array_equal(kmeans_labels(x, 12, seed=5), kmeans_labels(x, 12, seed=5))
    assert np.array_equal(
        cluster_labels(x, algo="graph", seed=1)[0], cluster_labels(x, algo="graph", seed=1)[0]
    )


def test_labels_are_numbered_by_size_and_outliers_stay() -> None:
    assert by_size(np.array([2, 2, 2, 0, -1, 1, 1])).tolist() == [0, 0, 0, 2, -1, 1, 1]


def test_auto_means_kmeans_with_k_and_graph_without() -> None:
    x, _ = blobs(300, seed=4)
    assert "given" in cluster_labels(x, k=5)[1]
    assert "Louvain" in cluster_labels(x)[1]
    with pytest.raises(InvalidOptionError):
        cluster_labels(x, algo="graph", k=5)
    with pytest.raises(InvalidOptionError):
        cluster_labels(x, algo="spectral")


def test_hdbscan_finds_blobs_and_marks_outliers() -> None:
    x, truth = blobs(600, seed=5, k=6)
    far = np.random.default_rng(0).normal(scale=30, size=(5, x.shape[1])).astype(np.float32)
    labels, criterion, _ = cluster_labels(np.vstack([x, far]), algo="hdbscan")
    assert "outliers" in criterion
    assert adjusted_rand_score(truth, labels[: len(x)]) >= 0.9
    assert (labels[len(x) :] == -1).sum() >= 3


def test_cluster_metrics_by_hand() -> None:
    # six images, two classes of three; one image of class 0 lands with class 1
    truth, found = [0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 1, 1]
    s = score_labels(truth, found)
    assert s["purity"] == pytest.approx(5 / 6) == purity(np.array(truth), np.array(found))
    # ARI: pairs together in both (1 + 3), class pairs 3 + 3, cluster pairs 1 + 6, 15 pairs
    expected = 6 * 7 / 15
    assert s["ari"] == pytest.approx((4 - expected) / ((6 + 7) / 2 - expected))
    h_class = math.log(2)
    h_cluster = -(1 / 3) * math.log(1 / 3) - (2 / 3) * math.log(2 / 3)
    mi = (2 / 6) * math.log(2) + (1 / 6) * math.log(0.5) + (3 / 6) * math.log(1.5)
    assert s["nmi"] == pytest.approx(mi / ((h_class + h_cluster) / 2))


def test_evaluate_leaves_the_default_set_alone(photos: Path) -> None:
    with Collection.open(photos) as col:
        col.index(model="test-tiny", workers=1)
        chosen = col.vectors_set().key
        run_grid(
            col,
            models=["color-histogram", "average-rgb", "test-tiny"],
            poolings=[],
            metrics=["cosine"],
            indexes=["exact"],
            k=2,
            groups={p: p.split("-")[0] for p in col.vectors(key=chosen).paths},
        )
        assert len([s for s in col.catalog.vector_sets() if s.count]) == 3
        assert col.vectors_set().key == chosen
        assert next(s for s in col.info().vector_sets if s.default).key == chosen
        col.index(model="color-histogram", workers=1)  # a user's own index run does move it
        assert col.vectors_set().encoder == "color-histogram"


def test_evaluate_clusters_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from imagegen import scene, variant

    root = tmp_path / "labelled"
    for kind, seed in (("shapes", 1), ("stripes", 5), ("checker", 4)):
        (root / kind).mkdir(parents=True)
        for i in range(4):
            im = scene(kind, seed + 10 * i)
            im.save(root / kind / f"{i}.png")
            variant(im, "resized").save(root / kind / f"{i}-small.png")
    assert main(["index", str(root), "--model", "test-tiny"]) == 0
    capsys.readouterr()
    out = tmp_path / "report"
    assert main(["evaluate-clusters", str(root), "--json", "--out", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["images"] == 24 and result["classes"] == 3
    kinds = [(r["algo"], r["k"]) for r in result["rows"]]
    assert kinds == [
        ("kmeans", "given (3)"),
        ("kmeans", "automatic"),
        ("graph", "automatic"),
        ("hdbscan", "automatic"),
    ]
    given = result["rows"][0]
    assert given["clusters"] == 3 and 0 <= given["nmi"] <= 1 and given["purity"] >= 1 / 3
    assert (out / "table.md").read_text().startswith("| algorithm | k | clusters | ARI")
    assert json.loads((out / "table.json").read_text()) == result
    assert main(["evaluate-clusters", str(root), "--algo", "spectral"]) == 2


def test_clusters_of_any_set_say_nothing_raw(
    photos: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with Collection.open(photos) as col:
        col.index(model="test-tiny", workers=1)
        col.index(model="color-histogram", workers=1)
    capfd.readouterr()
    # 25 images into 20 k-means clusters: FAISS and scikit-learn would both warn
    code = main(
        ["group", str(photos), "--mode", "clusters", "--k", "20", "--model", "test-tiny", "--json"]
    )
    captured = capfd.readouterr()
    assert code == 0 and "WARNING" not in captured.err + captured.out
    report = json.loads(captured.out)
    assert report["vector_set"].startswith("test-tiny") and report["k"] == 20
    assert report["algo"] == "kmeans" and report["criterion"].startswith("k = 20 given; ")
    assert "few per cluster" in report["criterion"]
