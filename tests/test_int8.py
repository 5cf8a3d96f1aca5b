"""The int8 encoder: close to fp32, built once, its own vector set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lookalike.collection import Collection
from lookalike.encoders import create_encoder
from lookalike.encoders import int8 as int8_module
from lookalike.encoders.int8 import calibration_pixels
from lookalike.errors import InvalidOptionError


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_int8_vectors_agree_with_fp32_and_keep_the_ranking() -> None:
    from lookalike.datasets import SAMPLE_PHOTOS, sample_photo
    from lookalike.datasets.variants import TRANSFORMS

    fp32 = create_encoder("efficientnet-lite0")
    q8 = create_encoder("efficientnet-lite0", precision="int8")
    assert q8.key != fp32.key and "-int8" in q8.key and q8.dim == fp32.dim
    size = fp32.preprocess.size

    def pixels(images: list) -> np.ndarray:
        return np.stack([np.asarray(im.convert("RGB").resize((size, size))) for im in images])

    photos = [sample_photo(name) for name in SAMPLE_PHOTOS[:10]]
    a, b = _unit(fp32.encode(pixels(photos))), _unit(q8.encode(pixels(photos)))
    assert float((a * b).sum(axis=1).mean()) >= 0.98
    # an altered copy of each photo still finds its original first
    for how in ("crop-85", "jpeg-q30", "watermark"):
        copies = _unit(q8.encode(pixels([TRANSFORMS[how](p) for p in photos])))
        assert ((copies @ b.T).argmax(axis=1) == np.arange(len(photos))).all(), how


def test_int8_model_is_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    first = create_encoder("efficientnet-lite0", precision="int8")
    built = first.onnx_path.stat().st_mtime_ns
    calls: list[Path] = []
    monkeypatch.setattr(int8_module, "quantize_int8", lambda *a, **k: calls.append(a[1]))
    again = create_encoder("efficientnet-lite0", precision="int8")
    assert again.onnx_path == first.onnx_path and calls == []
    assert again.onnx_path.stat().st_mtime_ns == built


def test_calibration_recipe_is_fixed() -> None:
    a, b = calibration_pixels(64, n=4), calibration_pixels(64, n=4)
    assert a.shape == (4, 64, 64, 3) and np.array_equal(a, b) and a.std() > 20


def test_int8_and_fp32_sets_coexist(photos: Path) -> None:
    with Collection.open(photos) as col:
        col.index(workers=1)
        col.index(create_encoder("efficientnet-lite0", precision="int8"), workers=1)
        sets = {s.key for s in col.catalog.vector_sets() if s.count}
        assert len(sets) == 2 and any("-int8" in k for k in sets)
        query = next(iter(sorted(photos.glob("*.jpg"))))
        answer = col.search(query, k=3)
        assert "-int8" in answer.vector_set  # the last index run's set
        plain = col.search(query, k=3, precision="fp32")
        assert not plain.vector_set.__contains__("-int8") and plain.vector_set in sets
        assert plain.matches[0].path == answer.matches[0].path


def test_int8_needs_onnx_runtime() -> None:
    with pytest.raises(InvalidOptionError, match="ONNX Runtime"):
        create_encoder("efficientnet-lite0", precision="int8", runtime="torch")
    with pytest.raises(InvalidOptionError, match="precision"):
        create_encoder("efficientnet-lite0", precision="fp16")
