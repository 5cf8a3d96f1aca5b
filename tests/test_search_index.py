"""Search indexes inside a collection: choice, persistence, incremental sync, Milvus."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from imagegen import SCENES, scene
from lookalike import Collection
from lookalike.index.auto import EXACT_MAX_FLOATS, choose_kind


def test_auto_choice_by_size() -> None:
    assert choose_kind(1000, 1280) == "exact"
    assert choose_kind(EXACT_MAX_FLOATS // 256 + 1, 256, memory=64 << 30) == "hnsw"
    assert choose_kind(10_000_000, 1280, memory=16 << 30) == "ivfpq"


def _index_dir(photos: Path) -> Path:
    return photos / ".lookalike" / "indexes" / "set-1-cosine"


@pytest.mark.parametrize("kind", ["hnsw", "ivf", "ivfpq", "lsh"])
def test_chosen_index_is_saved_synced_and_searched(kind: str, photos: Path) -> None:
    with Collection.open(photos) as col:
        report = col.index(
            model="test-tiny",
            index=kind,
            index_options={"rerank": 50} if kind in ("ivfpq", "lsh") else None,
        )
        assert report.index.kind == kind and report.index.count == 24
        assert 0.0 <= report.index.recall_at_10 <= 1.0
        pointer = json.loads((_index_dir(photos) / "current.json").read_text())
        assert (_index_dir(photos) / pointer["folder"] / "index.json").exists()
        info = col.info().vector_sets[0]
        assert info.index_kind == kind and info.index_stats.kind == kind

        q = photos / "checker-4.jpg"
        res = col.search(q, k=3, check_recall=True)
        assert res.index == kind and res.recall is not None and res.recall >= 2 / 3
        assert res.matches[0].path.name.startswith("checker-4-")

        # Add, change and delete files: the saved index follows without a rebuild.
        scene("stripes", 42).save(photos / "added.png")
        (photos / "variants" / "noise-6-resized.png").unlink()
        col.index(model="test-tiny")
        pointer2 = json.loads((_index_dir(photos) / "current.json").read_text())
        assert pointer2["gen"] > pointer["gen"]
        assert not (_index_dir(photos) / pointer["folder"]).exists()  # old version removed
        found = col.search(photos / "added.png", k=24, include_self=True)
        names = [m.path.name for m in found]
        assert names[0] == "added.png" and "noise-6-resized.png" not in names

    # A fresh process loads the saved index (same kind) and gets the same answers.
    with Collection.open(photos) as col2:
        again = col2.search(photos / "added.png", k=5, include_self=True)
        assert [m.path for m in again] == [m.path for m in found[:5]]


def test_vectors_written_after_the_index_was_saved_are_picked_up(photos: Path) -> None:
    """An index run that died after embedding but before saving the index loses nothing."""
    with Collection.open(photos) as col:
        col.index(model="test-tiny", index="hnsw")
    # Simulate a crash after new vectors were recorded: write them without an index save.
    scene("gradient", 50).save(photos / "late.png")
    with Collection.open(photos) as col:
        col._update_index = lambda *a, **k: {}  # type: ignore[method-assign]
        col.index(model="test-tiny")
    with Collection.open(photos) as col:
        res = col.search(photos / "late.png", k=1, include_self=True)
        assert res.index == "hnsw" and res.matches[0].path.name == "late.png"


def test_a_half_written_index_version_is_ignored(photos: Path) -> None:
    with Collection.open(photos) as col:
        col.index(model="test-tiny", index="hnsw")
    stray = _index_dir(photos) / "v-crashed"
    stray.mkdir()
    (stray / "index.faiss").write_bytes(b"partial")
    with Collection.open(photos) as col:
        res = col.search(photos / "shapes-1.jpg", k=2)
        assert res.index == "hnsw" and len(res) == 2
        col.index(model="test-tiny", index="hnsw", index_options={"ef_search": 32})
    assert not stray.exists()


def test_hnsw_search_setting_is_tuned_unless_the_user_set_it(photos: Path) -> None:
    from lookalike.core.set_index import RECALL_TARGET
    from lookalike.index.approximate import EF_LADDER

    with Collection.open(photos) as col:
        report = col.index(model="test-tiny", index="hnsw")
        tuned = report.index.params["ef_search"]
        assert tuned in EF_LADDER and report.index.recall_at_10 >= RECALL_TARGET
        saved = [json.loads(p.read_text()) for p in _index_dir(photos).glob("*/index.json")]
        assert [m["params"]["ef_search"] for m in saved] == [tuned]
        report = col.index(model="test-tiny", index="hnsw", index_options={"ef_search": 100})
        assert report.index.params["ef_search"] == 100


def test_changing_the_kind_drops_the_old_index(photos: Path) -> None:
    with Collection.open(photos) as col:
        col.index(model="test-tiny", index="hnsw")
        assert _index_dir(photos).exists()
        col.index(model="test-tiny", index="exact")
        # the hnsw versions are gone; what is saved now is the exact index
        saved = [json.loads(p.read_text()) for p in _index_dir(photos).glob("*/index.json")]
        assert [m["kind"] for m in saved] == ["exact"]
        assert col.search(photos / "shapes-1.jpg", k=2).index == "exact"


def test_euclidean_search_on_an_approximate_index(photos: Path) -> None:
    with Collection.open(photos) as col:
        col.index(model="test-tiny", index="ivf")
        res = col.search(photos / "shapes-2.jpg", k=2, metric="euclidean", check_recall=True)
        assert res.index == "ivf" and res.recall == 1.0
        assert res.matches[0].score <= res.matches[1].score


def test_milvus_lite_backend_end_to_end(photos: Path, tmp_path: Path) -> None:
    pytest.importorskip("pymilvus")
    uri = str(tmp_path / "milvus" / "lookalike.db")
    with Collection.open(photos) as col:
        report = col.index(model="test-tiny", index="milvus", index_options={"uri": uri})
        assert report.index.kind == "milvus" and report.index.count == 24
        kind, seed = SCENES[2]
        res = col.search(photos / f"{kind}-{seed}.jpg", k=2, check_recall=True)
        assert res.index == "milvus" and res.recall == 1.0
        assert res.matches[0].path.name.startswith(f"{kind}-{seed}-")
        os.remove(photos / "variants" / f"{kind}-{seed}-cropped.png")
        col.index(model="test-tiny")
        res = col.search(photos / f"{kind}-{seed}.jpg", k=24)
        assert f"{kind}-{seed}-cropped.png" not in [m.path.name for m in res]
        assert len(res) == 22


def test_check_recall_with_exact_is_one(photos: Path) -> None:
    with Collection.open(photos) as col:
        col.index(model="test-tiny")
        res = col.search(np.ones(192, np.float32), k=5, check_recall=True)
        assert res.recall == 1.0 and res.index == "exact"


def test_search_many_answers_as_search_does(photos: Path) -> None:
    with Collection.open(photos) as col:
        col.index(model="test-tiny", workers=1)
        queries = sorted(photos.glob("*.jpg"))[:4]
        vector = col.vectors().vectors[0]
        many = col.search_many([*queries, vector], k=3)
        one = [col.search(q, k=3) for q in [*queries, vector]]
    assert [[m.path for m in r.matches] for r in many] == [[m.path for m in r.matches] for r in one]
    assert all(q not in [m.path for m in r.matches] for q, r in zip(queries, many, strict=False))
