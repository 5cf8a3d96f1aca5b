"""Hand-crafted baselines the origin report cites: colour histogram and average colour.

They need no weights and run in microseconds, which makes them the floor any learned
encoder must beat, and a quick choice for exact-colour tasks.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from lookalike.encoders.base import Encoder, Preprocess, Vectors
from lookalike.errors import InvalidOptionError

# Identity normalisation: the encoders see raw 0..255 values.
_RAW = Preprocess(size=64, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


class ColorHistogramEncoder(Encoder):
    """Joint RGB histogram with ``bins`` levels per channel, as fractions of the pixels."""

    def __init__(self, *, bins: int = 8, image_size: int = 64) -> None:
        if not 2 <= bins <= 32:
            raise InvalidOptionError("bins must be between 2 and 32")
        self.name = "color-histogram"
        self.bins = bins
        self.preprocess = Preprocess(size=image_size, mean=_RAW.mean, std=_RAW.std)
        self.dim = bins**3
        self.version = f"b{bins}-c1"
        self.options = {"bins": bins, "image_size": image_size}

    def encode_batch(self, batch: NDArray[np.float32]) -> Vectors:
        levels = np.clip((batch * (self.bins / 256.0)).astype(np.int64), 0, self.bins - 1)
        cell = (levels[:, 0] * self.bins + levels[:, 1]) * self.bins + levels[:, 2]
        cell = cell.reshape(len(batch), -1)
        offsets = (np.arange(len(batch)) * self.dim)[:, None]
        counts = np.bincount((cell + offsets).ravel(), minlength=len(batch) * self.dim)
        hist = counts.reshape(len(batch), self.dim).astype(np.float32)
        return hist / np.float32(cell.shape[1])


class AverageRGBEncoder(Encoder):
    """The mean colour of the image, scaled to 0..1: a three-number vector."""

    def __init__(self, *, image_size: int = 32) -> None:
        self.name = "average-rgb"
        self.preprocess = Preprocess(size=image_size, mean=_RAW.mean, std=_RAW.std)
        self.dim = 3
        self.version = "c1"
        self.options = {"image_size": image_size}

    def encode_batch(self, batch: NDArray[np.float32]) -> Vectors:
        return (batch.mean(axis=(2, 3)) / 255.0).astype(np.float32)
