"""Encoders: the registry, the baselines, and EfficientNet-Lite in both runtimes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imagegen import scene
from lookalike.config import DEFAULT_POOLING
from lookalike.encoders import create_encoder, list_encoders, register_encoder
from lookalike.encoders.efficientnet import (
    EfficientNetLiteEncoder,
    grid_weights,
    multi_taps,
    stage_ends,
)
from lookalike.errors import InvalidOptionError, UnknownEncoderError, UnsupportedPoolingError


def _pixels(n: int, size: int) -> np.ndarray:
    kinds = ["shapes", "gradient", "checker", "stripes", "noise"]
    return np.stack([np.asarray(scene(kinds[i % 5], i).resize((size, size))) for i in range(n)])


def test_builtins_are_registered() -> None:
    names = {e.name for e in list_encoders()}
    assert {"efficientnet-lite0", "efficientnet-lite2", "color-histogram", "average-rgb"} <= names
    assert [e.name for e in list_encoders() if e.default] == ["efficientnet-lite0"]


def test_unknown_encoder_and_option() -> None:
    with pytest.raises(UnknownEncoderError, match="unknown encoder"):
        create_encoder("nope")
    with pytest.raises(InvalidOptionError, match="does not take"):
        create_encoder("average-rgb", pooling="max")


def test_plugin_registers_through_the_same_hook() -> None:
    from conftest import TinyEncoder

    register_encoder("plugin-x", lambda **kw: TinyEncoder(**kw), description="x", replace=True)
    enc = create_encoder("plugin-x", image_size=4)
    assert enc.encode(_pixels(2, 4)).shape == (2, 48)


def test_color_histogram_is_a_distribution() -> None:
    enc = create_encoder("color-histogram")
    v = enc.encode(_pixels(5, enc.preprocess.size))
    assert v.shape == (5, 512)
    np.testing.assert_allclose(v.sum(axis=1), 1.0, rtol=1e-5)
    red = np.zeros((1, 64, 64, 3), np.uint8)
    red[..., 0] = 255
    h = enc.encode(red)[0]
    assert h.argmax() == 7 * 64 and h.max() == pytest.approx(1.0)


def test_average_rgb() -> None:
    enc = create_encoder("average-rgb")
    px = np.zeros((1, 32, 32, 3), np.uint8)
    px[..., 1] = 255
    np.testing.assert_allclose(enc.encode(px)[0], [0.0, 1.0, 0.0], atol=1e-6)


@pytest.mark.parametrize(
    ("pooling", "dim"), [("multi", 1584), ("avg", 1280), ("max", 1280), ("layout", 2736)]
)
def test_torch_and_onnx_agree(pooling: str, dim: int) -> None:
    px = _pixels(4, 224)
    onnx = EfficientNetLiteEncoder("lite0", pooling=pooling, runtime="onnx")
    torch = EfficientNetLiteEncoder("lite0", pooling=pooling, runtime="torch")
    assert (onnx.runtime, torch.runtime) == ("onnx", "torch")
    a, b = onnx.encode(px), torch.encode(px)
    assert a.shape == b.shape == (4, dim) and onnx.dim == dim
    assert np.abs(a - b).max() < 1e-3 * np.abs(b).max()
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() > 0.99999
    assert onnx.key == torch.key  # same vector space whatever the runtime


def test_multi_pooling_joins_three_depths() -> None:
    """The default vector: last layer max-pooled, then the two earlier stage ends, each
    part a unit vector (so each weighs the same in a cosine)."""
    enc = create_encoder("efficientnet-lite0")
    assert enc.pooling == DEFAULT_POOLING == "multi"
    v = enc.encode(_pixels(3, 224))
    parts = np.split(v, [1280, 1280 + 192], axis=1)
    assert [p.shape[1] for p in parts] == [1280, 192, 112]
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    for part in parts:
        np.testing.assert_allclose(np.linalg.norm(part, axis=1), 3**-0.5, atol=1e-5)
    # The first part ranks like plain max pooling of the last layer.
    plain = EfficientNetLiteEncoder("lite0", pooling="max").encode(_pixels(3, 224))
    plain /= np.linalg.norm(plain, axis=1, keepdims=True)
    np.testing.assert_allclose(parts[0] * 3**0.5, plain, atol=1e-4)
    assert stage_ends([16, 24, 24, 40, 40, 80]) == [0, 2, 4, 5]
    assert multi_taps([16, 24, 24, 40, 40, 80, 80, 112, 112, 192, 320]) == (9, 8)


def test_layout_pooling_is_a_grid_of_two_stages() -> None:
    """``layout``: the stride-16 and stride-32 stage ends, each averaged over the 3x3 bands
    of adaptive average pooling, so a shape moved to another part of the picture changes
    the vector where global pooling would not."""
    import torch

    for side in (7, 14, 9):
        fmap = torch.randn(2, 5, side, side)
        w = torch.from_numpy(grid_weights(side))
        ours = torch.einsum("bchw,ih,jw->bcij", fmap, w, w)
        ref = torch.nn.functional.adaptive_avg_pool2d(fmap, 3)
        assert torch.allclose(ours, ref, atol=1e-5)
    enc = EfficientNetLiteEncoder("lite0", pooling="layout")
    v = enc.encode(_pixels(2, 224))
    mid, deep = np.split(v, [9 * 112], axis=1)
    assert deep.shape[1] == 9 * 192
    np.testing.assert_allclose(np.linalg.norm(mid, axis=1), 2**-0.5, atol=1e-5)
    # A square in the top-left corner and the same square in the bottom-right corner:
    # the same picture to global pooling, two pictures to the grid.
    a = np.full((224, 224, 3), 255, np.uint8)
    b = a.copy()
    a[20:80, 20:80] = 0
    b[144:204, 144:204] = 0
    grid = enc.encode(np.stack([a, b]))
    pooled = EfficientNetLiteEncoder("lite0", pooling="avg").encode(np.stack([a, b]))
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    assert grid[0] @ grid[1] < pooled[0] @ pooled[1] - 0.1


def test_lite2_multi_and_unsupported_pooling() -> None:
    enc = EfficientNetLiteEncoder("lite2", image_size=64)
    assert enc.pooling == "multi" and enc.encode(_pixels(1, 64)).shape == (1, enc.dim)
    with pytest.raises(UnsupportedPoolingError, match="pooling must be one of"):
        EfficientNetLiteEncoder("lite0", pooling="mean")


def test_flatten_pooling_and_small_input() -> None:
    enc = EfficientNetLiteEncoder("lite0", pooling="flatten", image_size=96)
    v = enc.encode(_pixels(2, 96))
    assert enc.dim == 1280 * 3 * 3 and v.shape == (2, enc.dim)
    assert "flatten" in enc.key and "|96|" in enc.key


def test_pretrained_features_separate_content() -> None:
    enc = create_encoder("efficientnet-lite0")
    a = scene("shapes", 11).resize((224, 224))
    b = a.transpose(0)  # mirrored copy
    c = scene("checker", 12).resize((224, 224))
    v = enc.encode(np.stack([np.asarray(x) for x in (a, b, c)]))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.1


def test_joint_encoder_shares_one_pass() -> None:
    """Poolings of one network share a forward pass and give each pooling's own vectors;
    other encoders with the same input share the decoding only."""
    from lookalike.encoders.joint import JointEncoder

    px = _pixels(3, 224)
    members = [create_encoder("efficientnet-lite0", pooling=p) for p in ("multi", "avg", "max")]
    joint = JointEncoder(members)
    assert joint.shared and joint.dim == 1584 + 1280 + 1280
    for enc, part in zip(members, joint.split(joint.encode(px)), strict=True):
        np.testing.assert_allclose(part, enc.encode(px), atol=1e-5)
    hand = JointEncoder(
        [create_encoder("color-histogram"), create_encoder("average-rgb", image_size=64)]
    )
    small = _pixels(3, 64)
    assert not hand.shared and [p.shape[1] for p in hand.split(hand.encode(small))] == [512, 3]
    with pytest.raises(ValueError, match="same input size"):
        JointEncoder([members[0], create_encoder("efficientnet-lite0", image_size=96)])


def _untrained_checkpoint(folder: Path) -> str:
    """An untrained model1 saved as the trainer saves a run (the contract needs no
    training, only the checkpoint format)."""
    import torch

    from lookalike.encoders.autoencoder_nets import ConvAutoencoder
    from lookalike.training.artifacts import save_torch

    torch.manual_seed(0)
    model = ConvAutoencoder("model1", 64)
    path = folder / "best.pt"
    save_torch({"model": model.state_dict(), "config": {"arch": "model1", "image_size": 64}}, path)
    return str(path)


def _whitening_head(folder: Path) -> str:
    """A head over the test encoder, learned from random vectors (the contract needs
    only the head format)."""
    from lookalike.training.metric import fit_whitening, save_head

    backbone = create_encoder("test-tiny")
    x = np.random.default_rng(0).normal(size=(300, backbone.dim)).astype(np.float32)
    settings = {
        "backbone": "test-tiny",
        "pooling": None,
        "backbone_key": backbone.key,
        "labels": "none",
        "loss": "supcon",
    }
    save_head(folder / "head", fit_whitening(x, 0.25, 2.0), settings, [])
    return str(folder / "head")


@pytest.mark.parametrize("name", [e.name for e in list_encoders()])
def test_every_registered_encoder_keeps_the_contract(name: str, tmp_path: Path) -> None:
    """One contract for every entry of the registry: vectors of ``dim`` float32, finite,
    the same on a second call, independent of the batch they are in; a key that names
    the encoder; and the spec rebuilds an encoder of the same key."""
    options: dict[str, str] = {}
    if name == "autoencoder":
        options = {"checkpoint": _untrained_checkpoint(tmp_path)}
    elif name == "metric-head":
        options = {"head": _whitening_head(tmp_path)}
    enc = create_encoder(name, **options)
    px = _pixels(3, enc.preprocess.size)
    v = enc.encode(px)
    assert v.shape == (3, enc.dim) and v.dtype == np.float32
    assert np.isfinite(v).all()
    np.testing.assert_array_equal(v, enc.encode(px))
    np.testing.assert_allclose(enc.encode(px[1:2])[0], v[1], rtol=1e-4, atol=1e-5)
    assert enc.key.startswith(f"{enc.name}|") and enc.version
    again = create_encoder(enc.spec.name, **enc.spec.options)
    assert again.key == enc.key
    enc.close()
