"""What a training run writes besides its history: checkpoints (atomically), the state
of every random generator (for an exact resume), and the loss curve as a picture."""

from __future__ import annotations

import io
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lookalike.store import write_bytes_atomic


def save_torch(obj: Any, path: Path) -> None:
    """``torch.save`` to ``path``, atomically (a killed run never leaves half a file)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    write_bytes_atomic(path, buf.getvalue())


def rng_state() -> dict[str, Any]:
    """Every random generator's state, so a resumed run continues the same sequence."""
    return {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` saved."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def plot_history(history: Sequence[Any], out: Path, title: str) -> Path:
    """Train and validation loss by epoch, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    epochs = [h.epoch for h in history]
    ax.plot(epochs, [h.train_loss for h in history], marker="o", label="train")
    if any(h.val_loss is not None for h in history):
        ax.plot(epochs, [h.val_loss for h in history], marker="o", label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return write_bytes_atomic(out, buf.getvalue())
