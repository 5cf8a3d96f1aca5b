"""Index backends: the exact backend against a brute-force numpy answer."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.errors import UnknownIndexError
from lookalike.index import create_index, list_indexes


def _data(n: int = 500, d: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32), rng.normal(size=(5, d)).astype(np.float32)


def test_registry() -> None:
    assert "exact" in list_indexes()
    with pytest.raises(UnknownIndexError):
        create_index("nope", 4, "cosine")
    with pytest.raises(ValueError, match="metric"):
        create_index("exact", 4, "manhattan")


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_exact_matches_brute_force(metric: str) -> None:
    x, q = _data()
    ids = np.arange(1000, 1000 + len(x), dtype=np.int64)
    index = create_index("exact", x.shape[1], metric)
    index.add(ids, x)
    hits = index.search(q, 10)
    if metric == "cosine":
        xn = x / np.linalg.norm(x, axis=1, keepdims=True)
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        scores = qn @ xn.T
        order = np.argsort(-scores, axis=1)[:, :10]
    else:
        scores = np.linalg.norm(q[:, None, :] - x[None, :, :], axis=2)
        order = np.argsort(scores, axis=1)[:, :10]
    np.testing.assert_array_equal(hits.ids, ids[order])
    np.testing.assert_allclose(hits.scores, np.take_along_axis(scores, order, 1), rtol=1e-4)
    assert len(index) == 500 and index.memory_bytes >= 500 * 32 * 4


def test_remove_and_small_k() -> None:
    x, q = _data(20)
    index = create_index("exact", x.shape[1], "euclidean")
    index.add(np.arange(20, dtype=np.int64), x)
    first = int(index.search(x[:1], 1).ids[0, 0])
    assert first == 0
    assert index.remove(np.array([0], dtype=np.int64)) == 1
    assert int(index.search(x[:1], 1).ids[0, 0]) != 0
    assert index.search(q, 100).ids.shape == (5, 19)
