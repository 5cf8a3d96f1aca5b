"""The core API end to end: index, search, incremental updates, and crash safety."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import kill_once_saved
from imagegen import SCENES, scene, variant
from lookalike import Collection, NoImagesError, NotIndexedError
from lookalike.errors import CollectionNotFoundError, ImageDecodeError
from lookalike.imageio import read_image

TESTS = Path(__file__).parent


def _names(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [m.path.name for m in result]


def test_search_ranks_variants_of_the_query_first(photos: Path) -> None:
    with Collection.open(photos) as col:
        report = col.index()  # the default encoder, efficientnet-lite0
        assert report.indexed == len(SCENES) * 3 and not report.skipped
        for kind, seed in SCENES:
            res = col.search(photos / f"{kind}-{seed}.jpg", k=3)
            names = _names(res)
            assert names[0].startswith(f"{kind}-{seed}-"), (kind, seed, names)
            assert {f"{kind}-{seed}-resized.png", f"{kind}-{seed}-cropped.png"} <= set(names)
            assert res.encoder == "efficientnet-lite0" and res.pooling == "multi"
            assert res.matches[0].score >= res.matches[1].score


def test_query_from_outside_and_euclidean(photos: Path, tmp_path: Path) -> None:
    q = tmp_path / "query.png"
    variant(scene(*SCENES[3]), "flipped").save(q)
    with Collection.open(photos) as col:
        col.index(model="test-tiny")
        res = col.search(q, k=3, metric="euclidean")
        kind, seed = SCENES[3]
        assert _names(res)[0].startswith(f"{kind}-{seed}")
        assert [m.rank for m in res] == [1, 2, 3]
        assert res.matches[0].score <= res.matches[2].score  # distances grow
        cos = col.search(q, k=3)
        assert cos.matches[0].score >= cos.matches[2].score  # similarities shrink


def test_self_is_left_out_unless_asked(photos: Path) -> None:
    q = photos / "noise-6.jpg"
    with Collection.open(photos) as col:
        col.index(model="test-tiny")
        assert "noise-6.jpg" not in _names(col.search(q, k=3))
        with_self = col.search(q, k=3, include_self=True)
        assert with_self.matches[0].path.name == "noise-6.jpg"
        assert with_self.matches[0].score == pytest.approx(1.0, abs=1e-5)


def test_vector_query_and_k_larger_than_collection(photos: Path) -> None:
    with Collection.open(photos) as col:
        col.index(model="test-tiny")
        res = col.search(np.ones(192, np.float32), k=1000)
        assert len(res) == len(SCENES) * 3


def test_incremental_add_change_delete(photos: Path) -> None:
    with Collection.open(photos) as col:
        first = col.index(model="test-tiny")
        assert first.indexed == 24
        again = col.index(model="test-tiny")
        assert (again.indexed, again.unchanged, again.removed) == (0, 24, 0)

        scene("stripes", 99).save(photos / "new.png")
        (photos / "variants" / "noise-6-resized.png").unlink()
        changed = photos / "gradient-3.jpg"
        scene("checker", 77).save(changed, quality=90)
        st = changed.stat()
        os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))

        r = col.index(model="test-tiny")
        assert (r.indexed, r.removed, r.unchanged) == (2, 1, 22)
        assert col.info().ok == 24
        # The changed file now looks like its new content: a checker board.
        res = col.search(photos / "new.png", k=24)
        assert "noise-6-resized.png" not in _names(res)
        res = col.search(changed, k=1)
        assert not _names(res)[0].startswith("gradient-3")


def test_encoders_keep_their_vectors_apart(photos: Path) -> None:
    with Collection.open(photos) as col:
        col.index(model="test-tiny")
        col.index(model="color-histogram")
        sets = col.info().vector_sets
        assert sorted(s.encoder for s in sets) == ["color-histogram", "test-tiny"]
        assert all(s.count == 24 for s in sets)
        assert col.search(photos / "noise-6.jpg", model="test-tiny").encoder == "test-tiny"
        # Latest set by default.
        assert col.search(photos / "noise-6.jpg").encoder == "color-histogram"
        with pytest.raises(NotIndexedError, match="average-rgb"):
            col.search(photos / "noise-6.jpg", model="average-rgb")


def test_bad_files_are_skipped_with_reasons(photos: Path) -> None:
    (photos / "empty.jpg").write_bytes(b"")
    (photos / "notes.txt").write_text("not a picture")
    good = (photos / "shapes-1.jpg").read_bytes()
    (photos / "cut.jpg").write_bytes(good[: len(good) // 3])
    with Collection.open(photos) as col:
        r = col.index(model="test-tiny")
        reasons = {s.path: s.reason for s in r.skipped}
        assert set(reasons) == {"empty.jpg", "notes.txt", "cut.jpg"}
        assert "empty" in reasons["empty.jpg"] and "not an image" in reasons["notes.txt"]
        assert "truncated" in reasons["cut.jpg"]
        assert r.indexed == 24
        # Skipped files are not retried until they change.
        assert col.index(model="test-tiny").newly_skipped == 0


def test_clear_errors(tmp_path: Path, photos: Path) -> None:
    with pytest.raises(CollectionNotFoundError):
        Collection.open(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "a.txt").write_text("x")
    with pytest.raises(NoImagesError):
        Collection.open(empty).index(model="test-tiny")
    with pytest.raises(NotIndexedError, match="lookalike index"):
        Collection.open(photos).search(photos / "shapes-1.jpg")
    assert not (photos / ".lookalike").exists()  # reading writes nothing
    with Collection.open(photos) as col:
        col.index(model="test-tiny")
        with pytest.raises(ImageDecodeError):
            col.search(empty / "a.txt")


def test_should_stop_keeps_finished_work(photos: Path) -> None:
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 2

    with Collection.open(photos) as col:
        r = col.index(model="test-tiny", batch_size=4, workers=0, should_stop=stop, flush_images=4)
        assert r.interrupted and 0 < r.indexed < 24
        r2 = col.index(model="test-tiny")
        assert r2.indexed == 24 - r.indexed and col.info().vector_sets[0].count == 24


def _vectors_by_path(root: Path) -> dict[str, np.ndarray]:
    with Collection.open(root) as col:
        table = col.vectors()
    return dict(zip(table.paths, table.vectors, strict=True))


def test_resume_after_a_killed_run(photos: Path, tmp_path: Path) -> None:
    """SIGKILL mid-index, then index again: every image once, same vectors as a clean run."""
    script = tmp_path / "run.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(TESTS)!r})
            import conftest
            from lookalike import Collection, create_encoder
            enc = create_encoder("test-tiny", delay=0.05)
            Collection.open({str(photos)!r}).index(
                enc, batch_size=2, workers=1, flush_images=2, flush_seconds=0.01)
            """
        )
    )
    proc = subprocess.Popen([sys.executable, str(script)])
    count = kill_once_saved(proc, photos / ".lookalike" / "catalog.db", at_least=4, timeout=60)
    assert 4 <= count < 24, "the run should have been killed part-way"
    # A shard written but never recorded must not survive or be counted.
    stray = next((photos / ".lookalike" / "vectors").iterdir()) / "shard-orphan.npy"
    np.save(stray, np.zeros((3, 192), np.float32))

    with Collection.open(photos) as col:
        r = col.index(model="test-tiny")
        assert 0 < r.indexed <= 24 - count  # only what the killed run had not saved
        assert col.info().vector_sets[0].count == 24
    assert not stray.exists()

    clean = tmp_path / "clean"
    shutil.copytree(photos, clean, ignore=shutil.ignore_patterns(".lookalike"))
    with Collection.open(clean) as col:
        col.index(model="test-tiny")
    a, b = _vectors_by_path(photos), _vectors_by_path(clean)
    assert a.keys() == b.keys() and len(a) == 24
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_stored_vectors_are_reused_for_queries(photos: Path) -> None:
    q = photos / "checker-4.jpg"
    with Collection.open(photos) as col:
        col.index(model="test-tiny")
        stored = col.search(q, k=3, include_self=True)
        # Replace the encoder's view of the file: a fresh decode must give the same answer.
        data = q.read_bytes()
        outside = photos.parent / "copy.jpg"
        outside.write_bytes(data)
        fresh = col.search(outside, k=3)
        assert _names(fresh) == _names(stored)


def test_grey_and_alpha_images_index(tmp_path: Path) -> None:
    root = tmp_path / "modes"
    root.mkdir()
    scene("shapes", 1).convert("L").save(root / "grey.png")
    rgba = scene("shapes", 2).convert("RGBA")
    rgba.putalpha(128)
    rgba.save(root / "alpha.png")
    scene("shapes", 3).convert("P").save(root / "palette.gif")
    Image.new("CMYK", (50, 50), (0, 255, 0, 0)).save(root / "cmyk.jpg")
    with Collection.open(root) as col:
        r = col.index(model="test-tiny")
        assert r.indexed == 4 and not r.skipped


def test_one_pass_fills_several_vector_sets(photos: Path, decodes: list[str]) -> None:
    """Poolings of one network: each image is decoded once, and every set gets exactly
    the vectors a pass of its own would have written."""
    from lookalike.encoders import create_encoder

    multi = create_encoder("efficientnet-lite0")
    avg = create_encoder("efficientnet-lite0", pooling="avg")
    with Collection.open(photos) as col:
        report = col.index(multi, also=[avg], workers=1)
        assert report.indexed == len(decodes) == len(SCENES) * 3
        for enc in (multi, avg):
            table = col.vectors(key=enc.key)
            alone = enc.encode(
                np.stack([read_image(photos / p, size=224).pixels for p in table.paths])
            )
            np.testing.assert_allclose(table.vectors, alone, atol=1e-5)
        assert col.vectors_set().key == multi.key  # the first encoder stays the default
        assert col.index(multi, also=[avg]).indexed == 0
        assert col.search(photos / "shapes-1.jpg", k=2, pooling="avg").pooling == "avg"
