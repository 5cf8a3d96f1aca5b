"""The store's parts on their own: the SQLite catalogue and the vector shards."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from lookalike.errors import StoreError
from lookalike.store import Catalog, FileRecord, VectorStore
from lookalike.store.schema import SCHEMA_VERSION


def _set(cat: Catalog, key: str = "enc|avg|8|v1", dim: int = 4):  # type: ignore[no-untyped-def]
    return cat.ensure_set(
        key=key, encoder="enc", version="v1", pooling="avg", image_size=8, dim=dim, options={}
    )


def _ok(path: str, size: int = 10) -> FileRecord:
    return FileRecord(path, size, 1, sha256=f"h-{path}", width=4, height=3, format="PNG")


def test_catalog_records_files_and_vectors(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "catalog.db")
    vset = _set(cat)
    assert _set(cat).id == vset.id  # ensure_set is idempotent
    cat.record(
        [_ok("a.png"), FileRecord("bad.txt", 3, 1, error="not an image"), _ok("b.png")],
        set_id=vset.id,
        shard="s1.npy",
    )
    files = cat.files()
    assert set(files) == {"a.png", "b.png", "bad.txt"}
    assert files["bad.txt"].status == "skipped" and files["bad.txt"].error == "not an image"
    assert cat.counts() == {"ok": 2, "skipped": 1}
    assert cat.skipped() == [("bad.txt", "not an image")]
    # ok files get rows 0, 1 of the shard in record order; the skipped one gets none
    locs = {f: (s, r) for f, s, r in cat.locations(vset.id)}
    assert locs == {files["a.png"].id: ("s1.npy", 0), files["b.png"].id: ("s1.npy", 1)}
    assert cat.vector_sets()[0].count == 2
    assert cat.file_paths([files["b.png"].id, files["a.png"].id]) == ["b.png", "a.png"]
    # forgetting a changed file drops its vector but keeps its row until re-recorded
    cat.forget([], [files["a.png"].id])
    assert cat.embedded_file_ids(vset.id) == {files["b.png"].id}
    cat.forget([files["b.png"].id], [])
    assert "b.png" not in cat.files()
    cat.close()


def test_catalog_generations_grow_per_write(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "catalog.db")
    vset = _set(cat)
    cat.record([_ok("a.png")], set_id=vset.id, shard="s1.npy")
    cat.record([_ok("b.png")], set_id=vset.id, shard="s2.npy")
    ids, gens = cat.generations(vset.id)
    assert len(ids) == 2 and sorted(gens.tolist()) == [1, 2]


def test_catalog_decisions_are_unordered_pairs(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "catalog.db")
    cat.record([_ok("a.png"), _ok("b.png")])
    a, b = cat.files()["a.png"].id, cat.files()["b.png"].id
    assert cat.decide([(b, a)], "not-duplicates") == 1
    assert cat.decided("not-duplicates") == {(min(a, b), max(a, b))}
    assert cat.decided("something-else") == set()


def test_catalog_index_config_round_trip(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "catalog.db")
    vset = _set(cat)
    assert cat.index_config(vset.id) is None
    cat.set_index_config(vset.id, "hnsw", {"M": 16}, {"cosine": {"kind": "hnsw"}})
    assert cat.index_config(vset.id) == ("hnsw", {"M": 16}, {"cosine": {"kind": "hnsw"}})
    key = cat.index_config_key(vset.id)
    cat.set_index_config(vset.id, "ivf", {}, {})
    assert cat.index_config_key(vset.id) != key


def test_pixel_measures_are_kept_by_version_and_pruned_with_their_files(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "catalog.db")
    cat.record([_ok("a.png"), _ok("b.png"), _ok("c.png")])
    cat.keep_measures(
        "v1",
        [("h-a.png", "h-b.png", False, "{}"), ("h-b.png", "h-c.png", True, '{"x": 1}')],
        [("h-a.png", 0.5), ("h-c.png", 1.0)],
    )
    cat.keep_measures("v0", [("h-a.png", "h-c.png", False, "{}")], [])
    assert cat.pair_measures("v1") == {
        ("h-a.png", "h-b.png", False): "{}",
        ("h-b.png", "h-c.png", True): '{"x": 1}',
    }
    assert cat.picture_measures("v1") == {"h-a.png": 0.5, "h-c.png": 1.0}
    # looked up by key, as a grouping asks
    asked = [("h-b.png", "h-c.png", True), ("h-b.png", "h-c.png", False), ("h-a.png", "x", False)]
    assert cat.pair_measures("v1", asked) == {("h-b.png", "h-c.png", True): '{"x": 1}'}
    assert cat.pair_measures("v0", asked) == {}
    assert cat.picture_measures("v1", ["h-c.png", "nope"]) == {"h-c.png": 1.0}
    cat.forget([cat.files()["c.png"].id], [])
    # c's measures go with it, and so does every measure of another version
    assert cat.prune_measures("v1") == 2
    assert cat.pair_measures("v1") == {("h-a.png", "h-b.png", False): "{}"}
    assert cat.pair_measures("v0") == {}
    assert cat.picture_measures("v1") == {"h-a.png": 0.5}


def test_a_catalogue_of_schema_2_gains_the_measure_tables(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    Catalog(path).close()
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE pair_measures")
        db.execute("DROP TABLE picture_measures")
        db.execute("UPDATE meta SET value='2' WHERE key='schema_version'")
    cat = Catalog(path)
    cat.keep_measures("v1", [("a", "b", False, "{}")], [])
    assert cat.pair_measures("v1") == {("a", "b", False): "{}"}
    version = cat._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    assert int(version[0]) == SCHEMA_VERSION


def test_catalog_from_a_newer_lookalike_is_a_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    Catalog(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match="newer lookalike"):
        Catalog(path)


def test_vector_store_shards_load_and_compact(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "catalog.db")
    store = VectorStore(tmp_path / "vectors")
    vset = _set(cat, dim=4)
    rng = np.random.default_rng(0)
    first, second = rng.random((2, 4), np.float32), rng.random((1, 4), np.float32)
    s1 = store.write_shard(vset.id, first)
    cat.record([_ok("a.png"), _ok("b.png")], set_id=vset.id, shard=s1)
    s2 = store.write_shard(vset.id, second)
    cat.record([_ok("c.png")], set_id=vset.id, shard=s2)
    orphan = store.write_shard(vset.id, second)  # written, never recorded: a crash
    ids, vectors = store.load_set(cat, vset.id, 4)
    np.testing.assert_array_equal(vectors, np.concatenate([first, second]))
    assert store.compact(cat, vset.id, 4) is True
    assert {p.name for p in store.set_dir(vset.id).iterdir()} == cat.shards(vset.id)
    assert orphan not in cat.shards(vset.id) and len(cat.shards(vset.id)) == 1
    ids2, vectors2 = store.load_set(cat, vset.id, 4)
    np.testing.assert_array_equal(ids, ids2)
    np.testing.assert_array_equal(vectors, vectors2)
    assert store.compact(cat, vset.id, 4) is False  # already one shard, nothing dead


def test_vector_store_load_gathers_across_shards(tmp_path: Path) -> None:
    store = VectorStore(tmp_path)
    a = store.write_shard(1, np.eye(3, dtype=np.float32))
    b = store.write_shard(1, 2 * np.eye(3, dtype=np.float32))
    got = store.load(1, 3, [(10, b, 2), (11, a, 0), (12, b, 0)])
    np.testing.assert_array_equal(got, [[0, 0, 2], [1, 0, 0], [2, 0, 0]])
    assert store.load(1, 3, []).shape == (0, 3)


def test_atomic_writes_get_ordinary_permissions(tmp_path: Path) -> None:
    import os
    import stat

    from lookalike.store import write_bytes_atomic

    mask = os.umask(0o022)
    os.umask(mask)
    target = write_bytes_atomic(tmp_path / "report.md", b"ok")
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    assert target.read_bytes() == b"ok" and not list(tmp_path.glob(".*.tmp"))
