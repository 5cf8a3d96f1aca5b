"""Training runs kept in a collection (``DIR/.lookalike/models/<name>/``): listing them
and naming new ones. How a ``--model`` value names a run is ``encoders.resolve``'s job."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from lookalike.encoders.resolve import models_dir


@dataclass(frozen=True)
class RunInfo:
    """A trained model as ``lookalike models`` lists it."""

    name: str
    path: Path
    arch: str
    image_size: int
    scheduler: str
    loss: str
    epochs_done: int
    epochs: int
    best_val_loss: float | None
    best_epoch: int | None

    def to_dict(self) -> dict[str, object]:
        """Plain data for ``--json``."""
        return {**{f: getattr(self, f) for f in self.__dataclass_fields__}, "path": str(self.path)}


def new_run_name(db: Path, base: str) -> str:
    """``base``, or ``base-2``, ``base-3``... whichever is free."""
    name, n = base, 1
    while (models_dir(db) / name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def list_runs(db: Path) -> list[RunInfo]:
    """Every run with a config, newest first."""
    out = []
    folder = models_dir(db)
    for run in sorted(
        folder.iterdir() if folder.is_dir() else [], key=lambda p: -p.stat().st_mtime
    ):
        cfg_file = run / "config.json"
        if not cfg_file.exists():
            continue
        cfg = json.loads(cfg_file.read_text())
        hist = (
            json.loads((run / "history.json").read_text())
            if (run / "history.json").exists()
            else []
        )
        scored = [
            (h["val_loss"] if h["val_loss"] is not None else h["train_loss"], h["epoch"])
            for h in hist
        ]
        best = min(scored) if scored else None
        out.append(
            RunInfo(
                run.name,
                run,
                cfg["arch"],
                cfg["image_size"],
                cfg["scheduler"],
                cfg["loss"],
                len(hist),
                cfg["epochs"],
                best[0] if best else None,
                best[1] if best else None,
            )
        )
    return out
