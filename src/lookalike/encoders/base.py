"""The encoder contract: pixels in, one float32 vector per image out.

An encoder implements only :meth:`Encoder.encode_batch` on a preprocessed float batch;
the base class owns preprocessing (from the encoder's :class:`Preprocess` config) and
batching, so every encoder, built-in or plugin, behaves the same.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from lookalike.errors import EncoderOutputError, InvalidOptionError

Vectors = NDArray[np.float32]
Pixels = NDArray[np.uint8]


@dataclass(frozen=True)
class Preprocess:
    """How images must be prepared for an encoder: square size and per-channel normalisation.

    Pixels (0..255) become ``(x - mean) / std`` in a float32 (batch, 3, H, W) array.
    """

    size: int = 224
    mean: tuple[float, float, float] = (127.0, 127.0, 127.0)
    std: tuple[float, float, float] = (128.0, 128.0, 128.0)

    def apply(self, pixels: Pixels) -> NDArray[np.float32]:
        """(B, H, W, 3) uint8 -> normalised (B, 3, H, W) float32."""
        if pixels.ndim != 4 or pixels.shape[-1] != 3:
            raise InvalidOptionError(f"expected a (batch, H, W, 3) uint8 array, got {pixels.shape}")
        x = pixels.astype(np.float32)
        x -= np.asarray(self.mean, dtype=np.float32)
        x *= np.asarray([1.0 / s for s in self.std], dtype=np.float32)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


@dataclass(frozen=True)
class EncoderSpec:
    """Enough to build the same encoder again: its registry name and options."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)


class Encoder(ABC):
    """Base of every encoder. Subclasses set the attributes and implement ``encode_batch``."""

    #: Registry name (``efficientnet-lite0``).
    name: str
    #: Preprocessing the encoder needs; the ingest decodes straight to ``preprocess.size``.
    preprocess: Preprocess
    #: Length of each vector.
    dim: int
    #: Changes whenever the vectors would change (weights, code): vectors of two versions
    #: are never mixed.
    version: str
    #: How a feature map became a vector (``avg``, ``max``, ``flatten``); None if it has none.
    pooling: str | None = None
    #: Options that :func:`lookalike.encoders.create_encoder` needs to build it again.
    options: dict[str, Any]

    @abstractmethod
    def encode_batch(self, batch: NDArray[np.float32]) -> Vectors:
        """Encode one preprocessed (B, 3, H, W) batch into (B, dim) float32 vectors."""

    @property
    def spec(self) -> EncoderSpec:
        """Name and options that rebuild this encoder."""
        return EncoderSpec(self.name, dict(self.options))

    @property
    def key(self) -> str:
        """Identity of the vector space: vectors with different keys are never compared."""
        return f"{self.name}|{self.pooling or 'none'}|{self.preprocess.size}|{self.version}"

    def encode(self, pixels: Pixels, batch_size: int = 32) -> Vectors:
        """Encode (N, H, W, 3) uint8 pixels, ``batch_size`` at a time."""
        if len(pixels) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = [
            np.asarray(
                self.encode_batch(self.preprocess.apply(pixels[i : i + batch_size])),
                dtype=np.float32,
            )
            for i in range(0, len(pixels), batch_size)
        ]
        vectors = np.concatenate(out, axis=0)
        if vectors.shape != (len(pixels), self.dim):
            raise EncoderOutputError(
                f"encoder {self.name} returned {vectors.shape}, expected {(len(pixels), self.dim)}"
            )
        return vectors

    def joint_pass(
        self, members: Sequence[Encoder]
    ) -> Callable[[NDArray[np.float32]], list[Vectors]] | None:
        """One forward pass serving several encoders (this one among them) that share a
        network, e.g. poolings of one CNN; None when they do not. Optional hook."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release runtime resources (sessions, threads); optional."""
