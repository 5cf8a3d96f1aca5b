"""Training an autoencoder on a user's own images, resumable, fast on a CPU.

CPU practice: channels-last memory format, bfloat16 autocast where the CPU has native
bf16 (AVX-512 BF16 / AMX), every core for the intra-op pool, decoded images cached once,
and the next batch prepared in a background thread while the current one trains. CUDA is
used when present.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from lookalike.encoders.autoencoder_nets import ARCHS, ConvAutoencoder, latent_shape
from lookalike.errors import InvalidOptionError
from lookalike.results import Skipped
from lookalike.store import write_bytes_atomic
from lookalike.training.artifacts import plot_history, rng_state, save_torch, set_rng_state
from lookalike.training.data import build_cache

SCHEDULERS = ("none", "cosine", "cosine-warm-restarts", "plateau")
LOSSES = ("mse", "ssim")


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a run; the defaults are the origin report's."""

    arch: str = "model2"
    epochs: int = 40
    batch_size: int = 32
    lr: float = 1e-3
    image_size: int = 224
    val_split: float = 0.1
    seed: int = 0
    scheduler: str = "none"
    t0: int = 10  # epochs per cosine warm-restart cycle (the report used 5 or 10)
    loss: str = "mse"
    fast: bool = True  # channels-last + bf16 autocast where supported

    def check(self) -> None:
        """Reject impossible settings with one clear message."""
        if self.arch not in ARCHS:
            raise InvalidOptionError(f"--arch must be one of {', '.join(ARCHS)}")
        if self.scheduler not in SCHEDULERS:
            raise InvalidOptionError(f"--scheduler must be one of {', '.join(SCHEDULERS)}")
        if self.loss not in LOSSES:
            raise InvalidOptionError(f"--loss must be one of {', '.join(LOSSES)}")
        if not 0.0 <= self.val_split < 1.0:
            raise InvalidOptionError("--val-split must be in [0, 1)")
        latent_shape(self.arch, self.image_size)


@dataclass(frozen=True)
class TrainProgress:
    """A tick for progress bars: batch ``batch`` of ``batches`` in epoch ``epoch``."""

    epoch: int
    epochs: int
    batch: int
    batches: int
    loss: float
    images_per_second: float


@dataclass
class EpochRecord:
    """One line of the history."""

    epoch: int
    train_loss: float
    val_loss: float | None
    lr: float
    seconds: float
    images_per_second: float


@dataclass
class TrainReport:
    """What a run did and where its files are."""

    run: Path
    config: TrainConfig
    history: list[EpochRecord]
    best_val_loss: float | None
    best_epoch: int | None
    images: int
    skipped: list[Skipped] = field(default_factory=list)
    device: str = "cpu"
    bf16: bool = False


def bf16_supported() -> bool:
    """Native bfloat16 on this CPU (AVX-512 BF16 or AMX)."""
    check = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool((check and check()) or (amx and amx()))


def ssim_loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - SSIM (pytorch-msssim), for images in [0, 1]."""
    from pytorch_msssim import ssim

    win = 11 if min(out.shape[-2:]) >= 11 else (min(out.shape[-2:]) // 2) * 2 - 1
    return 1.0 - ssim(out, target, data_range=1.0, size_average=True, win_size=max(3, win))


def make_scheduler(
    name: str, optimizer: torch.optim.Optimizer, *, epochs: int, iters: int, t0: int
) -> Any:
    """The report's schedulers: per-batch cosine (with warm restarts every ``t0`` epochs,
    eta_min 1e-4) or plain; per-epoch ReduceLROnPlateau (factor 0.2, patience 2,
    threshold 1e-4, min_lr 5e-5)."""
    if name == "cosine-warm-restarts":
        return torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
            optimizer, T_0=t0, T_mult=1, eta_min=1e-4
        )
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs * iters))
    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=0.2, patience=2, threshold=1e-4, min_lr=5e-5
        )
    return None


class Trainer:
    """One training run in ``run`` (a folder): cache, checkpoints, history, curves."""

    def __init__(
        self, root: Path, run: Path, config: TrainConfig, *, exclude: tuple[Path, ...] = ()
    ) -> None:
        config.check()
        self.root, self.run, self.config = Path(root), Path(run), config
        self.exclude = exclude
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.bf16 = config.fast and (self.device.type == "cuda" or bf16_supported())

    def _batch(self, pixels: np.ndarray, rows: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(pixels[np.sort(rows)]))
        x = x.permute(0, 3, 1, 2).float().div_(255.0)
        if self.config.fast:
            x = x.contiguous(memory_format=torch.channels_last)
        return x.to(self.device, non_blocking=True)

    def _loss(self, model: ConvAutoencoder, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            out = model(x)
        out = out.float()
        return ssim_loss(out, x) if self.config.loss == "ssim" else F.mse_loss(out, x)

    def prepare(self, model: ConvAutoencoder) -> ConvAutoencoder:
        """The model on the run's device, channels-last when fast."""
        model = model.to(self.device)
        return model.to(memory_format=torch.channels_last) if self.config.fast else model

    def batch(self, pixels: np.ndarray, rows: np.ndarray) -> torch.Tensor:
        """A training batch from cached uint8 pixels."""
        return self._batch(pixels, rows)

    def step(
        self, model: ConvAutoencoder, optimizer: torch.optim.Optimizer, x: torch.Tensor
    ) -> torch.Tensor:
        """One optimisation step; returns the loss."""
        optimizer.zero_grad(set_to_none=True)
        loss = self._loss(model, x)
        loss.backward()
        optimizer.step()
        return loss

    def evaluate(self, model: ConvAutoencoder, pixels: np.ndarray, rows: np.ndarray) -> float:
        """Mean loss over ``rows`` without training."""
        model.eval()
        total, seen = 0.0, 0
        with torch.no_grad():
            for s in range(0, len(rows), self.config.batch_size):
                part = rows[s : s + self.config.batch_size]
                total += float(self._loss(model, self._batch(pixels, part))) * len(part)
                seen += len(part)
        model.train()
        return total / max(1, seen)

    def fit(
        self,
        *,
        resume: bool = False,
        progress: Callable[[TrainProgress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> TrainReport:
        """Train (or continue) the run; checkpoints are written after every epoch."""
        cfg = self.config
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed)
        random.seed(cfg.seed)
        if self.device.type == "cpu":
            torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
        cache = build_cache(self.root, self.run, cfg.image_size, exclude=self.exclude)
        n = len(cache.paths)
        order = np.random.default_rng(cfg.seed).permutation(n)
        n_val = min(n - 1, max(1, math.ceil(cfg.val_split * n))) if cfg.val_split > 0 else 0
        val_rows, train_rows = order[:n_val], order[n_val:]
        iters = max(1, math.ceil(len(train_rows) / cfg.batch_size))

        model = self.prepare(ConvAutoencoder(cfg.arch, cfg.image_size))
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        scheduler = make_scheduler(
            cfg.scheduler, optimizer, epochs=cfg.epochs, iters=iters, t0=cfg.t0
        )
        history: list[EpochRecord] = []
        best: tuple[float, int] | None = None
        start = 0
        last = self.run / "last.pt"
        if resume and last.exists():
            state = torch.load(last, map_location=self.device, weights_only=False)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            if scheduler is not None and state.get("scheduler"):
                scheduler.load_state_dict(state["scheduler"])
            history = [EpochRecord(**h) for h in state["history"]]
            best = tuple(state["best"]) if state.get("best") else None  # type: ignore[assignment]
            start = int(state["epoch"])
            set_rng_state(state["rng"])
        (self.run / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
        writer = self._tensorboard()
        prefetch = ThreadPoolExecutor(1, thread_name_prefix="lookalike-batches")
        try:
            for epoch in range(start, cfg.epochs):
                t0 = time.perf_counter()
                perm = train_rows[
                    np.random.default_rng(cfg.seed + 1 + epoch).permutation(len(train_rows))
                ]
                batches = [
                    perm[i : i + cfg.batch_size] for i in range(0, len(perm), cfg.batch_size)
                ]
                pending = prefetch.submit(self._batch, cache.pixels, batches[0])
                total, seen = 0.0, 0
                for b, rows in enumerate(batches):
                    x = pending.result()
                    if b + 1 < len(batches):
                        pending = prefetch.submit(self._batch, cache.pixels, batches[b + 1])
                    loss = self.step(model, optimizer, x)
                    if cfg.scheduler == "cosine-warm-restarts":
                        scheduler.step(epoch + (b + 1) / len(batches))
                    elif cfg.scheduler == "cosine":
                        scheduler.step()
                    total += float(loss.detach()) * len(rows)
                    seen += len(rows)
                    if progress:
                        rate = seen / max(1e-9, time.perf_counter() - t0)
                        progress(
                            TrainProgress(
                                epoch + 1,
                                cfg.epochs,
                                b + 1,
                                len(batches),
                                float(loss.detach()),
                                rate,
                            )
                        )
                    if should_stop and should_stop():
                        return self._report(cache, history, best)
                val = self.evaluate(model, cache.pixels, val_rows) if n_val else None
                if cfg.scheduler == "plateau":
                    scheduler.step(val if val is not None else total / seen)
                seconds = time.perf_counter() - t0
                record = EpochRecord(
                    epoch + 1,
                    total / seen,
                    val,
                    optimizer.param_groups[0]["lr"],
                    seconds,
                    seen / seconds,
                )
                history.append(record)
                score = val if val is not None else record.train_loss
                if best is None or score < best[0]:
                    best = (score, epoch + 1)
                    self._save_model(
                        model, self.run / "best.pt", epoch + 1, score, len(cache.paths)
                    )
                save_torch(
                    {
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict() if scheduler is not None else None,
                        "epoch": epoch + 1,
                        "history": [asdict(h) for h in history],
                        "best": list(best),
                        "rng": rng_state(),
                        "config": asdict(cfg),
                    },
                    last,
                )
                self._write_outputs(history, writer, record)
        finally:
            prefetch.shutdown(wait=True)
            if writer is not None:
                writer.close()
        return self._report(cache, history, best)

    def _save_model(
        self, model: ConvAutoencoder, path: Path, epoch: int, loss: float, images: int
    ) -> None:
        save_torch(
            {
                "model": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
                "config": asdict(self.config),
                "epoch": epoch,
                "val_loss": loss,
                "images": images,
                "kind": "lookalike-autoencoder",
            },
            path,
        )

    def _tensorboard(self) -> Any:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except Exception:  # tensorboard is optional
            return None
        return SummaryWriter(str(self.run / "tensorboard"))

    def _write_outputs(self, history: list[EpochRecord], writer: Any, record: EpochRecord) -> None:
        write_bytes_atomic(
            self.run / "history.json", json.dumps([asdict(h) for h in history], indent=2).encode()
        )
        plot_history(
            history,
            self.run / "loss.png",
            f"{self.config.arch} · {self.config.image_size}px · {self.config.loss}",
        )
        if writer is not None:
            writer.add_scalar("loss/train", record.train_loss, record.epoch)
            if record.val_loss is not None:
                writer.add_scalar("loss/validation", record.val_loss, record.epoch)
            writer.add_scalar("lr", record.lr, record.epoch)

    def _report(
        self, cache: Any, history: list[EpochRecord], best: tuple[float, int] | None
    ) -> TrainReport:
        return TrainReport(
            self.run,
            self.config,
            history,
            best[0] if best else None,
            best[1] if best else None,
            len(cache.paths),
            list(cache.skipped),
            self.device.type,
            self.bf16,
        )
