"""One way to turn what a user types after ``--model`` into an encoder.

Explicit forms, tried in this order:

1. a checkpoint path: a file (``runs/model1/best.pt``) or a run folder holding ``best.pt``
   (an autoencoder) or ``head.npz`` (a metric head);
2. a training run of the collection: ``RUN`` or ``ARCH@RUN`` (``DB/models/RUN/``);
3. a registered encoder name (``efficientnet-lite0``; see ``lookalike encoders``).

Every caller (index, search, grouping, evaluation, the UI) goes through here, so a name
means the same thing everywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lookalike.encoders.base import Encoder, EncoderSpec
from lookalike.encoders.registry import create_encoder
from lookalike.errors import UnknownEncoderError

#: The registry name trained checkpoints are served by.
CHECKPOINT_ENCODER = "autoencoder"
#: The registry name trained metric heads are served by.
HEAD_ENCODER = "metric-head"
#: The option that names a trained model's file, by registry name: the vector sets of two
#: runs differ by it.
TRAINED_OPTIONS = ("checkpoint", "head")


def models_dir(db: Path) -> Path:
    """Where a collection keeps its training runs (``DB/models``)."""
    return Path(db) / "models"


def resolve_spec(spec: str, db: Path | None = None) -> EncoderSpec:
    """The registry name and options a ``--model`` value stands for (nothing is built)."""
    path = Path(spec).expanduser()
    if path.is_file():
        return EncoderSpec(CHECKPOINT_ENCODER, {"checkpoint": str(path.resolve())})
    trained = _trained(path)
    if trained is not None:
        return trained
    run = spec.split("@", 1)[1] if "@" in spec else spec
    if db is not None:
        trained = _trained(models_dir(db) / run)
        if trained is not None:
            return trained
    if "@" in spec:
        where = models_dir(db) if db is not None else "this collection"
        raise UnknownEncoderError(f"no trained model {run!r} in {where}")
    return EncoderSpec(spec, {})


def _trained(folder: Path) -> EncoderSpec | None:
    """The trained model in a run folder, if it holds one."""
    if folder.is_dir() and (folder / "best.pt").is_file():
        return EncoderSpec(CHECKPOINT_ENCODER, {"checkpoint": str((folder / "best.pt").resolve())})
    if folder.is_dir() and (folder / "head.npz").is_file():
        return EncoderSpec(HEAD_ENCODER, {"head": str(folder.resolve())})
    return None


def resolve_encoder(spec: str, db: Path | None = None, **options: Any) -> Encoder:
    """Build the encoder a ``--model`` value names; ``options`` (pooling, image size) are
    added to the ones the form implies."""
    resolved = resolve_spec(spec, db)
    return create_encoder(resolved.name, **resolved.options, **options)
