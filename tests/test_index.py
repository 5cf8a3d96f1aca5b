"""Index backends: one contract for all, recall against exact search, persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lookalike.errors import InvalidOptionError, UnknownIndexError
from lookalike.index import VectorIndex, create_index, list_indexes, load_index

#: recall@10 floors on clustered data at each backend's default settings.
FLOORS = {"exact": 1.0, "hnsw": 0.95, "ivf": 0.9, "ivfpq": 0.9, "lsh": 0.85, "milvus": 0.9}
FAISS_KINDS = ["exact", "hnsw", "ivf", "ivfpq", "lsh"]


def clustered(n: int, d: int = 32, centres: int = 40, seed: int = 0) -> np.ndarray:
    """A Gaussian mixture: the structure real embeddings have."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, d)) * 3
    return (c[rng.integers(0, centres, n)] + rng.normal(size=(n, d))).astype(np.float32)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(
        np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found, truth, strict=True)])
    )


def make(kind: str, dim: int, metric: str, tmp_path: Path) -> VectorIndex:
    if kind == "milvus":
        pytest.importorskip("pymilvus")
        return create_index(
            "milvus", dim, metric, uri=str(tmp_path / "milvus.db"), collection=f"t_{metric}"
        )
    return create_index(kind, dim, metric)


def test_registry() -> None:
    assert set(FAISS_KINDS) <= set(list_indexes())
    with pytest.raises(UnknownIndexError):
        create_index("nope", 4, "cosine")
    with pytest.raises(ValueError, match="metric"):
        create_index("exact", 4, "manhattan")
    with pytest.raises(InvalidOptionError, match="does not take"):
        create_index("exact", 4, "cosine", nprobe=3)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_exact_matches_brute_force(metric: str) -> None:
    rng = np.random.default_rng(0)
    x, q = (
        rng.normal(size=(500, 32)).astype(np.float32),
        rng.normal(size=(5, 32)).astype(np.float32),
    )
    ids = np.arange(1000, 1500, dtype=np.int64)
    index = create_index("exact", 32, metric)
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


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("kind", sorted(list_indexes()))  # every registered backend
def test_contract(kind: str, metric: str, tmp_path: Path) -> None:
    """Recall above the floor; scores in the user's metric; remove, save and load."""
    data = clustered(4000)
    queries = clustered(50, seed=1)
    ids = np.arange(4000, dtype=np.int64) * 7 + 3
    truth_index = create_index("exact", 32, metric)
    truth_index.add(ids, data)
    truth = truth_index.search(queries, 10)

    index = make(kind, 32, metric, tmp_path)
    index.add(ids, data)
    assert len(index) == 4000
    hits = index.search(queries, 10)
    assert hits.ids.shape == (50, 10)
    r = recall(hits.ids, truth.ids)
    floor = FLOORS.get(kind, 0.9)
    assert r >= floor, f"{kind}/{metric} recall@10 {r:.3f} < {floor}"
    # Scores are the metric's own values: compare the shared top hits with exact ones.
    top = hits.ids[:, 0] == truth.ids[:, 0]
    np.testing.assert_allclose(hits.scores[top, 0], truth.scores[top, 0], rtol=2e-3, atol=2e-3)
    order = hits.scores if metric == "euclidean" else -hits.scores
    assert np.all(np.diff(order, axis=1) >= -1e-5)  # ranked best first

    # Remove: gone from results and from ids().
    gone = ids[:100]
    assert index.remove(gone) == 100
    assert len(index) == 3900
    assert not np.isin(index.search(data[:100], 5).ids, gone).any()
    assert not np.isin(index.ids(), gone).any() and len(index.ids()) == 3900

    # Add after remove, save, load: same answers.
    index.add(gone[:10], data[:10])
    assert len(index) == 3910
    before = index.search(queries, 10)
    loaded = load_index(index.save(tmp_path / f"saved-{kind}-{metric}"))
    assert loaded.kind == kind and len(loaded) == 3910
    after = loaded.search(queries, 10)
    assert recall(after.ids, before.ids) >= (1.0 if kind != "milvus" else 0.95)
    assert kind == "milvus" or loaded.memory_bytes > 0


def test_hnsw_tombstones_compact() -> None:
    from lookalike.index.approximate import TOMBSTONE_SHARE

    data = clustered(1000)
    index = create_index("hnsw", 32, "cosine")
    index.add(np.arange(1000, dtype=np.int64), data)
    index.remove(np.arange(50, dtype=np.int64))
    assert len(index._dead) == 50  # filtered at query time
    index.remove(np.arange(50, 50 + int(TOMBSTONE_SHARE * 1000), dtype=np.int64))
    assert not index._dead and len(index) == 1000 - 50 - int(TOMBSTONE_SHARE * 1000)


def test_hnsw_tune_takes_the_cheapest_ef_that_reaches_the_target() -> None:
    from lookalike.index.approximate import EF_LADDER

    data = clustered(3000, d=64, centres=8)  # wide clusters: a small ef misses some
    index = create_index("hnsw", 64, "cosine", M=8)
    index.add(np.arange(3000, dtype=np.int64), data)
    queries = data[:200]
    truth = create_index("exact", 64, "cosine")
    truth.add(np.arange(3000, dtype=np.int64), data)
    exact = truth.search(queries, 10).ids

    def measured() -> float:
        return recall(index.search(queries, 10).ids, exact)

    index.tune(measured, 0.99)
    chosen = index.ef_search
    assert measured() >= 0.99
    assert chosen in EF_LADDER and chosen != EF_LADDER[0]  # the data needs more than the least
    index.ef_search = EF_LADDER[EF_LADDER.index(chosen) - 1]
    assert measured() < 0.99  # ... and the step below falls short
    index.tune(lambda: 0.0, 0.99)  # never reached: the largest setting
    assert index.ef_search == EF_LADDER[-1]


def test_compressed_index_is_small() -> None:
    data = clustered(20000, d=64)
    index = create_index("ivfpq", 64, "euclidean")
    index.add(np.arange(20000, dtype=np.int64), data)
    exact = create_index("exact", 64, "euclidean")
    exact.add(np.arange(20000, dtype=np.int64), data)
    assert index.memory_bytes < exact.memory_bytes / 4


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_rerank_scores_all_rows_or_candidates_alike(
    metric: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deep re-ranking scores every stored row at once; it must answer exactly as the
    candidate-by-candidate path, replaced and removed ids included."""
    import lookalike.index._faiss as faiss_backend

    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 24)).astype(np.float32)
    index = create_index("lsh", 24, metric)
    index.add(np.arange(400), x)
    index.add(np.arange(10), rng.normal(size=(10, 24)).astype(np.float32))  # replaced
    index.remove(np.arange(10, 20))
    q = rng.normal(size=(7, 24)).astype(np.float32)
    dense = index.search(q, 40)
    monkeypatch.setattr(faiss_backend, "DENSE_SHARE", 0)  # never dense
    sparse = index.search(q, 40)
    np.testing.assert_array_equal(dense.ids, sparse.ids)
    np.testing.assert_allclose(dense.scores, sparse.scores, rtol=1e-4, atol=1e-4)
    assert not np.isin(dense.ids, np.arange(10, 20)).any()


def test_a_saved_exact_index_is_mapped_then_written_on_change(tmp_path: Path) -> None:
    from lookalike.index import create_index
    from lookalike.index.registry import load_index

    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 16)).astype(np.float32)
    built = create_index("exact", 16, "cosine")
    built.add(np.arange(50), x)
    built.save(tmp_path / "v1")
    mapped = load_index(tmp_path / "v1")
    assert mapped.search(x[:3], 1).ids[:, 0].tolist() == [0, 1, 2]
    mapped.add(np.array([100]), -x[:1])  # a change reads the vectors in, then applies it
    assert mapped.remove(np.array([1])) == 1
    assert mapped.search(-x[:1], 1).ids[0, 0] == 100
    assert 1 not in mapped.search(x[1:2], 3).ids[0].tolist() and len(mapped) == 50
