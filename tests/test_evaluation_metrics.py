"""The evaluation core on tiny hand-made cases with answers worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.evaluation import bootstrap, evaluate, rankings, score_ranking


def test_one_ranking_by_hand() -> None:
    # Relevant at ranks 1 and 3 of 5, two relevant in all.
    p, r, ap, rp = score_ranking(np.array([1, 0, 1, 0, 0], bool), relevant=2, k=2)
    assert p == pytest.approx(1 / 2)
    assert r == pytest.approx(1 / 2)
    assert ap == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert rp == pytest.approx(1 / 2)


def test_six_items_by_hand() -> None:
    """Points on a line, labels a a a b b c; euclidean ranks are easy to work out."""
    x = np.array([[0.0], [1.0], [5.0], [2.0], [6.0], [20.0]], np.float32)
    labels = ["a", "a", "a", "b", "b", "c"]
    ev = evaluate(x, labels, k=2, metric="euclidean")
    s = ev.scores
    # Query 0 (a at 0): ranking 1(a) 3(b) 2(a) 4(b) 5(c) -> rel 1 0 1 0 0
    assert s.precision_at_k[0] == pytest.approx(0.5)
    assert s.average_precision[0] == pytest.approx((1 + 2 / 3) / 2)
    assert s.r_precision[0] == pytest.approx(0.5)
    # Query 2 (a at 5): ranking 4(b, d1) 3(b, d3) 1(a, d4) 0(a, d5) -> rel 0 0 1 1
    assert s.precision_at_k[2] == 0.0
    assert s.average_precision[2] == pytest.approx((1 / 3 + 2 / 4) / 2)
    assert s.recall_at_k[2] == 0.0
    # Query 3 (b at 2): ranking 1(a, d1) 0(a, d2) 2(a, d3) 4(b, d4) -> rel 0 0 0 1
    assert s.average_precision[3] == pytest.approx(1 / 4)
    assert s.r_precision[3] == 0.0
    # The class of one (c) has nothing to find: left out of the means.
    assert ev.queries == 5 and "c" not in ev.per_class
    assert ev.summary["mAP"].mean == pytest.approx(s.average_precision[:5].mean())
    assert ev.per_class["b"]["P@2"] == pytest.approx(s.precision_at_k[3:5].mean())


def test_ties_keep_the_lower_index_first() -> None:
    x = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], np.float32)
    _, order = next(rankings(x, "cosine"))
    assert order[0].tolist()[:2] == [1, 2] and order[1].tolist()[:2] == [0, 2]
    ev = evaluate(x, ["p", "q", "p", "q"], k=1)
    assert ev.scores.precision_at_k[0] == 0.0  # tie broken towards item 1 (label q)


def test_perfect_and_bootstrap() -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(4, dtype=np.float32) * 10
    x = np.repeat(centres, 5, axis=0) + rng.normal(scale=0.1, size=(20, 4)).astype(np.float32)
    labels = [str(i // 5) for i in range(20)]
    ev = evaluate(x, labels, k=4)
    assert ev.summary["P@4"].mean == 1.0 and ev.summary["mAP"].mean == 1.0
    assert ev.headline == "P@4"
    s = bootstrap(np.array([0.0, 1.0] * 50))
    assert s.low < 0.5 < s.high and s.mean == 0.5


def test_approximate_index_rankings() -> None:
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(5, 16)).astype(np.float32) * 5
    x = np.repeat(centres, 30, axis=0) + rng.normal(size=(150, 16)).astype(np.float32)
    labels = [str(i // 30) for i in range(150)]
    exact = evaluate(x, labels, k=8)
    lsh = evaluate(x, labels, k=8, index="lsh")
    assert lsh.summary["P@8"].mean == pytest.approx(exact.summary["P@8"].mean, abs=0.05)
