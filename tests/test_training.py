"""The report's four autoencoders: exact architectures, training, resume, schedulers,
losses, and a trained model used as an encoder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from lookalike import Collection
from lookalike.cli.main import main
from lookalike.encoders import create_encoder
from lookalike.encoders.autoencoder_nets import ConvAutoencoder, count_parameters, latent_shape
from lookalike.errors import UnsupportedPoolingError
from lookalike.evaluation.grid import _encoders
from lookalike.training.data import build_cache
from lookalike.training.trainer import TrainConfig, Trainer, make_scheduler, ssim_loss

COUNTS = {  # (encoder, decoder) parameters at any input size, from the origin report
    "model1": (3_910_784, 1_738_435),
    "model2": (8_630_400, 6_457_539),
    "model3": (None, 6_457_539),
    "model4": (8_630_400, 8_629_379),
}
LATENT_224 = {
    "model1": (512, 7, 7),
    "model2": (1024, 3, 3),
    "model3": (1024, 3, 3),
    "model4": (1024, 2, 2),
}
LATENT_112 = {
    "model1": (512, 3, 3),
    "model2": (1024, 1, 1),
    "model3": (1024, 1, 1),
    "model4": (1024, 1, 1),
}


@pytest.mark.parametrize("arch", list(COUNTS))
def test_parameter_counts_and_shapes(arch: str) -> None:
    for size, latents in ((224, LATENT_224), (112, LATENT_112)):
        model = ConvAutoencoder(arch, size).eval()
        enc, dec = COUNTS[arch]
        if enc is not None:
            assert count_parameters(model.encoder) == enc
        assert count_parameters(model.decoder) == dec
        with torch.no_grad():
            x = torch.rand(1, 3, size, size)
            z = model.encode(x)
            assert tuple(z.shape[1:]) == latents[arch] == latent_shape(arch, size)
            assert model(x).shape == x.shape
    # model3: model2's encoder plus a learned C->C stride-2 convolution per pooling.
    extra = sum(c * c * 4 + c for c in (64, 128, 256, 512, 512, 1024))
    assert count_parameters(ConvAutoencoder("model3").encoder) == 8_630_400 + extra


def test_model4_spatial_sizes_at_224() -> None:
    model = ConvAutoencoder("model4").eval()
    sizes, x = [], torch.zeros(1, 3, 224, 224)
    with torch.no_grad():
        for layer in model.encoder:
            x = layer(x)
            if isinstance(layer, torch.nn.MaxPool2d):
                sizes.append(x.shape[-1])
        ups = []
        for layer in model.decoder:
            x = layer(x)
            if isinstance(layer, torch.nn.ConvTranspose2d):
                ups.append(x.shape[-1])
    assert sizes == [111, 55, 27, 13, 6, 2]
    assert ups == [6, 13, 27, 55, 111, 224]


@pytest.mark.parametrize("arch", ["model1", "model4"])
def test_output_is_alive_on_dark_images(arch: str) -> None:
    """Dark pictures with a bright object (Fashion-MNIST's kind): the final ReLU must not
    start dead, or no gradient ever flows; a few steps lower the loss."""
    torch.manual_seed(0)
    x = torch.zeros(8, 3, 64, 64)
    for i in range(8):
        x[i, :, 16 + i : 40 + i, 20:44] = 0.5 + 0.05 * i
    model = ConvAutoencoder(arch, 64)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    losses = []
    for _ in range(30):
        out = model(x)
        loss = torch.nn.functional.mse_loss(out, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert float((out > 0).float().mean()) > 0.05
    assert losses[-1] < 0.8 * losses[0]


def _config(tmp: Path, **kw: object) -> TrainConfig:
    base = {"arch": "model1", "epochs": 2, "batch_size": 4, "image_size": 64, "lr": 1e-3}
    return TrainConfig(**{**base, **kw})  # type: ignore[arg-type]


def test_training_lowers_the_loss(photos: Path, tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    trainer = Trainer(photos, tmp_path / "run", cfg)
    torch.manual_seed(0)
    report = trainer.fit()
    assert [h.epoch for h in report.history] == [1, 2] and report.images == 24
    torch.manual_seed(cfg.seed)
    start = ConvAutoencoder("model1", 64)  # the same initial weights as the run's

    cache = build_cache(photos, tmp_path / "run", 64)
    rows = np.arange(len(cache.paths))
    before = trainer.evaluate(start, cache.pixels, rows)
    trained = ConvAutoencoder("model1", 64)
    trained.load_state_dict(torch.load(tmp_path / "run" / "best.pt", weights_only=False)["model"])
    after = trainer.evaluate(trained, cache.pixels, rows)
    assert after < before
    for name in ("best.pt", "last.pt", "history.json", "loss.png", "config.json"):
        assert (tmp_path / "run" / name).exists()
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(history) == 2 and all(h["val_loss"] is not None for h in history)


def test_resume_gives_the_same_state(photos: Path, tmp_path: Path) -> None:
    """Two epochs straight, or one epoch, a stop, and a resume: the same weights."""
    cfg = _config(tmp_path, scheduler="cosine")
    straight = Trainer(photos, tmp_path / "a", cfg).fit()
    # Killed part-way through epoch 2: its last checkpoint is epoch 1's.
    killed = Trainer(photos, tmp_path / "b", cfg).fit(
        should_stop=lambda: (tmp_path / "b" / "last.pt").exists()
    )
    assert [h.epoch for h in killed.history] == [1]
    resumed = Trainer(photos, tmp_path / "b", cfg).fit(resume=True)
    assert [h.epoch for h in resumed.history] == [1, 2]
    assert resumed.history[1].train_loss == pytest.approx(straight.history[1].train_loss, rel=1e-4)
    assert resumed.history[1].lr == pytest.approx(straight.history[1].lr)
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=False)["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-6)


def _lrs(name: str, epochs: int, iters: int, **kw: float) -> list[float]:
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=1e-3)
    sched = make_scheduler(name, opt, epochs=epochs, iters=iters, t0=int(kw.get("t0", 5)))
    out = []
    for e in range(epochs):
        for b in range(iters):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            if name == "cosine-warm-restarts":
                sched.step(e + (b + 1) / iters)
            else:
                sched.step()
    return out


def test_schedulers_follow_their_formulas() -> None:
    iters, epochs = 4, 10
    warm = _lrs("cosine-warm-restarts", epochs, iters, t0=5)
    for i, lr in enumerate(warm):
        t_cur = (i / iters) % 5
        expected = 1e-4 + (1e-3 - 1e-4) * (1 + math.cos(math.pi * t_cur / 5)) / 2
        assert lr == pytest.approx(expected, rel=1e-6)
    assert warm[5 * iters] == pytest.approx(1e-3)  # restart after T_0 = 5 epochs
    plain = _lrs("cosine", epochs, iters)
    total = epochs * iters
    for i, lr in enumerate(plain):
        assert lr == pytest.approx(1e-3 * (1 + math.cos(math.pi * i / total)) / 2, abs=1e-9)

    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=1e-3)
    plateau = make_scheduler("plateau", opt, epochs=epochs, iters=iters, t0=5)
    seen = []
    for _ in range(12):  # a loss that never improves: x0.2 after every 3 flat epochs
        plateau.step(1.0)
        seen.append(opt.param_groups[0]["lr"])
    assert seen[2] == pytest.approx(1e-3) and seen[3] == pytest.approx(2e-4)
    assert seen[6] == pytest.approx(5e-5) and min(seen) == pytest.approx(5e-5)  # min_lr


def test_ssim_loss() -> None:
    x = torch.rand(2, 3, 64, 64)
    assert float(ssim_loss(x, x)) == pytest.approx(0.0, abs=1e-5)
    assert float(ssim_loss(x, torch.rand(2, 3, 64, 64))) > 0.5


def test_trained_model_indexes_searches_and_groups(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "train",
                str(photos),
                "--arch",
                "model2",
                "--epochs",
                "1",
                "--batch-size",
                "8",
                "--image-size",
                "64",
                "--name",
                "tiny",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["models", str(photos)]) == 0
    assert "tiny" in capsys.readouterr().out
    for pooling in ("flatten", "max"):
        assert main(["index", str(photos), "--model", "tiny", "--pooling", pooling, "-q"]) == 0
    capsys.readouterr()
    assert (
        main(
            [
                "search",
                str(photos / "shapes-1.jpg"),
                "--in",
                str(photos),
                "--model",
                "tiny",
                "--pooling",
                "flatten",
                "--json",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["encoder"] == "autoencoder" and data["pooling"] == "flatten"
    with Collection.open(photos) as col:
        sets = {(s.encoder, s.pooling, s.dim) for s in col.info().vector_sets}
        assert ("autoencoder", "flatten", 1024) in sets and ("autoencoder", "max", 1024) in sets
    assert main(["group", str(photos), "--model", "tiny", "--pooling", "max", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 24
    enc = create_encoder(
        "autoencoder",
        checkpoint=str(photos / ".lookalike" / "models" / "tiny" / "best.pt"),
        pooling="avg",
    )
    assert enc.encode(np.zeros((1, 64, 64, 3), np.uint8)).shape == (1, 1024)
    # The multi-depth pooling is EfficientNet's: an autoencoder refuses it, and a grid
    # asking for several poolings skips it for the autoencoder (its default when alone).
    ckpt = {"checkpoint": str(enc.checkpoint)}
    with pytest.raises(UnsupportedPoolingError, match="flatten, max, avg"):
        create_encoder("autoencoder", **ckpt, pooling="multi")
    assert [e.pooling for e in _encoders("autoencoder", ckpt, ["multi", "max"])] == ["max"]
    assert [e.pooling for e in _encoders("autoencoder", ckpt, ["multi"])] == ["flatten"]
    assert [e.name for e in _encoders("color-histogram", {}, ["multi", "max"])] == [
        "color-histogram"
    ]
