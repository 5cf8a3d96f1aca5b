"""A metric head trained on a collection (``lookalike train --arch metric``) as an encoder:
the pretrained backbone's vector, centred and multiplied by the head's learned projection,
then scaled to unit length. The projection is a plain matrix, so encoding needs no PyTorch:
the backbone runs as it always does (ONNX Runtime) and the head adds one matrix product.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from lookalike.encoders.base import Encoder, Vectors
from lookalike.encoders.registry import create_encoder
from lookalike.errors import EncoderOutputError, UnknownEncoderError, UnsupportedPoolingError

#: The files a head's run folder holds.
HEAD_FILE = "head.npz"
CONFIG_FILE = "config.json"


def head_dir(path: str | Path) -> Path:
    """The run folder of a head given its folder or its ``head.npz``."""
    p = Path(path).expanduser().resolve()
    return p.parent if p.name == HEAD_FILE else p


def head_config(path: str | Path) -> dict[str, Any]:
    """A head's settings (what it was trained on and how), without reading the head."""
    folder = head_dir(path)
    if not (folder / HEAD_FILE).is_file() or not (folder / CONFIG_FILE).is_file():
        raise UnknownEncoderError(f"no trained metric head in {folder}")
    return dict(json.loads((folder / CONFIG_FILE).read_text()))


def load_head(path: str | Path) -> tuple[dict[str, Any], NDArray[np.float32], NDArray[np.float32]]:
    """A head's settings, centre and projection; a clear error for anything else."""
    folder = head_dir(path)
    cfg = head_config(folder)
    with np.load(folder / HEAD_FILE, allow_pickle=False) as data:
        return cfg, data["mean"].astype(np.float32), data["projection"].astype(np.float32)


def project(x: NDArray[np.float32], mean: NDArray[np.float32], projection: NDArray[np.float32]):
    """Unit backbone vectors -> unit head vectors."""
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    z = (x - mean) @ projection
    return (z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)).astype(np.float32)


class MetricHeadEncoder(Encoder):
    """The backbone a head was trained on, followed by the head."""

    def __init__(self, head: str, *, pooling: str | None = None, **backbone_options: Any):
        folder = head_dir(head)
        cfg, self._mean, self._projection = load_head(folder)
        if pooling is not None and pooling != cfg["pooling"]:
            raise UnsupportedPoolingError(
                f"the metric head {folder.name} was trained on {cfg['backbone']} vectors with "
                f"{cfg['pooling']} pooling; leave out --pooling (it is part of the head)"
            )
        if cfg["pooling"]:
            backbone_options["pooling"] = cfg["pooling"]
        self._backbone = create_encoder(cfg["backbone"], **backbone_options)
        if self._backbone.key != cfg["backbone_key"]:
            raise EncoderOutputError(
                f"the metric head {folder.name} was trained on {cfg['backbone_key']} vectors, "
                f"but this lookalike makes {self._backbone.key}; train it again"
            )
        if self._projection.shape[0] != self._backbone.dim:
            raise EncoderOutputError(
                f"the metric head {folder.name} expects {self._projection.shape[0]}-d vectors, "
                f"its backbone makes {self._backbone.dim}-d"
            )
        self.name = "metric-head"
        self.pooling = cfg["pooling"]
        self.preprocess = self._backbone.preprocess
        self.dim = int(self._projection.shape[1])
        digest = hashlib.sha256((folder / HEAD_FILE).read_bytes()).hexdigest()[:10]
        self.version = f"{cfg['backbone']}-head-{digest}"
        self.head = folder
        self.training = {
            "arch": "metric",
            "scheduler": cfg.get("labels", "-"),
            "loss": cfg.get("loss"),
            "labels": cfg.get("labels"),
        }
        self.options = {"head": str(folder)}

    def encode_batch(self, batch: NDArray[np.float32]) -> Vectors:
        return project(self._backbone.encode_batch(batch), self._mean, self._projection)

    def close(self) -> None:
        self._backbone.close()
