"""Training throughput of the four autoencoders: lookalike's trainer step (channels-last,
bf16 autocast where the CPU has it, all cores) against a plain eager PyTorch loop (NCHW,
fp32, default settings) over the same model and the same batches, side by side.

    python benchmarks/train_throughput.py [--sizes 224,112] [--steps 3] [--batch 32]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from lookalike.encoders.autoencoder_nets import ARCHS, ConvAutoencoder
from lookalike.training.trainer import TrainConfig, Trainer


def plain_step(model: ConvAutoencoder, opt: torch.optim.Optimizer, x: torch.Tensor) -> None:
    opt.zero_grad()
    loss = F.mse_loss(model(x), x)
    loss.backward()
    opt.step()


def measure(step, make_batch, steps: int) -> float:  # type: ignore[no-untyped-def]
    """Median seconds per step after one warm-up step."""
    step(make_batch())
    times = []
    for _ in range(steps):
        x = make_batch()
        t = time.perf_counter()
        step(x)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def compare(
    arch: str, size: int, pixels: np.ndarray, batch: int, steps: int
) -> tuple[float, float, Trainer]:
    """Seconds per step of the plain loop and of lookalike's step, same model and data."""
    rows = np.arange(batch)
    trainer = Trainer(
        Path("."), Path("."), TrainConfig(arch=arch, image_size=size, batch_size=batch)
    )
    torch.manual_seed(0)
    fast_model = trainer.prepare(ConvAutoencoder(arch, size))
    fast_opt = torch.optim.Adam(fast_model.parameters(), lr=1e-3)
    fast = measure(
        lambda x: trainer.step(fast_model, fast_opt, x), lambda: trainer.batch(pixels, rows), steps
    )
    torch.manual_seed(0)
    plain_model = ConvAutoencoder(arch, size)
    plain_opt = torch.optim.Adam(plain_model.parameters(), lr=1e-3)
    plain_batch = torch.from_numpy(pixels[:batch]).permute(0, 3, 1, 2).float() / 255
    plain = measure(
        lambda x: plain_step(plain_model, plain_opt, x), lambda: plain_batch.clone(), steps
    )
    return plain, fast, trainer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="224,112")
    ap.add_argument("--archs", default=",".join(ARCHS))
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, batch {args.batch}, "
        f"median of {args.steps} steps after a warm-up"
    )
    print(
        f"{'model':<8}{'size':>6}{'plain img/s':>13}{'lookalike img/s':>17}{'ratio':>7}  settings"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        pixels = rng.integers(0, 256, (args.batch * 2, size, size, 3), dtype=np.uint8)
        for arch in args.archs.split(","):
            try:
                ConvAutoencoder(arch, size)
            except ValueError as exc:
                print(f"{arch:<8}{size:>6}  skipped: {exc}")
                continue
            plain, fast, trainer = compare(arch, size, pixels, args.batch, args.steps)
            settings = (
                "channels-last"
                + (", bf16" if trainer.bf16 else "")
                + f", {torch.get_num_threads()} threads"
            )
            print(
                f"{arch:<8}{size:>6}{args.batch / plain:>13.2f}{args.batch / fast:>17.2f}"
                f"{plain / fast:>7.2f}  {settings}",
                flush=True,
            )


if __name__ == "__main__":
    main()
