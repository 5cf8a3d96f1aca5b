"""A trained autoencoder (``lookalike train``) as an encoder: its latent feature map,
pooled by ``flatten`` or ``max`` (the origin report's two embedding methods) or ``avg``."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from lookalike.encoders.base import Encoder, Preprocess, Vectors
from lookalike.errors import UnknownEncoderError, UnsupportedPoolingError

#: The latent is one feature map, so the multi-depth pooling does not apply.
AUTOENCODER_POOLINGS = ("flatten", "max", "avg")


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint written by the trainer; a clear error for anything else."""
    import torch

    p = Path(path).expanduser()
    if not p.is_file():
        raise UnknownEncoderError(f"no trained model at {p}")
    state = torch.load(p, map_location="cpu", weights_only=False)
    if not isinstance(state, dict) or "config" not in state or "model" not in state:
        raise UnknownEncoderError(f"{p} is not a lookalike autoencoder checkpoint")
    return state


class AutoencoderEncoder(Encoder):
    """Latent vectors of one of the report's autoencoders, trained on the user's images."""

    def __init__(self, checkpoint: str, *, pooling: str = "flatten", threads: int | None = None):
        import torch

        from lookalike.encoders.autoencoder_nets import ConvAutoencoder, latent_shape

        if pooling not in AUTOENCODER_POOLINGS:
            raise UnsupportedPoolingError(
                f"an autoencoder's pooling is one of {', '.join(AUTOENCODER_POOLINGS)}, "
                f"not {pooling!r}"
            )
        path = Path(checkpoint).expanduser().resolve()
        state = load_checkpoint(path)
        cfg = state["config"]
        model = ConvAutoencoder(cfg["arch"], cfg["image_size"])
        model.load_state_dict(state["model"])
        self._encoder = model.encoder.eval()
        self._torch = torch
        if threads:
            torch.set_num_threads(int(threads))
        self.name = "autoencoder"
        self.arch = cfg["arch"]
        self.pooling = pooling
        self.preprocess = Preprocess(
            size=int(cfg["image_size"]), mean=(0.0, 0.0, 0.0), std=(255.0, 255.0, 255.0)
        )  # [0, 1], as in training
        c, h, w = latent_shape(cfg["arch"], int(cfg["image_size"]))
        self.dim = c * h * w if pooling == "flatten" else c
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
        self.version = f"{cfg['arch']}-{digest}"
        self.checkpoint = path
        self.training = {k: cfg.get(k) for k in ("arch", "scheduler", "loss", "epochs", "lr")}
        self.options = {"checkpoint": str(path), "pooling": pooling}

    def encode_batch(self, batch: NDArray[np.float32]) -> Vectors:
        torch = self._torch
        with torch.inference_mode():
            z = self._encoder(torch.from_numpy(batch))
            if self.pooling == "avg":
                z = z.mean(dim=(2, 3))
            elif self.pooling == "max":
                z = z.amax(dim=(2, 3))
            else:
                z = z.flatten(1)
            return z.float().numpy()
