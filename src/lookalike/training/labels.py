"""Labels a user gives for training and evaluation: the sub-folder of each image, or a
file mapping some images to groups (the rest stay unlabelled)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from lookalike.errors import LookalikeError


def read_groups(path: Path) -> dict[str, str]:
    """A JSON object or a two-column CSV mapping image path (relative) to group."""
    path = Path(path)
    if not path.is_file():
        raise LookalikeError(f"labels file not found: {path}")
    text = path.read_text()
    if path.suffix.lower() == ".json":
        return {str(k): str(v) for k, v in json.loads(text).items()}
    rows = csv.reader(io.StringIO(text))
    return {r[0]: r[1] for r in rows if len(r) >= 2 and r[0] != "path"}


def label_of(paths: Sequence[str], groups: dict[str, str] | None) -> list[str | None]:
    """Each path's label, or None: the ``groups`` mapping (path -> group) when given, else
    the first folder of the path (images at the top level have none)."""
    if groups is not None:
        return [groups.get(p) for p in paths]
    return [p.split("/", 1)[0] if "/" in p else None for p in paths]


def label_codes(
    paths: Sequence[str], labels: str | dict[str, str]
) -> tuple[NDArray[np.int64], list[str]]:
    """One integer class per path (``-1`` = unlabelled) and the class names.

    ``labels`` is ``"folders"`` (the first folder of each path; images at the top level
    stay unlabelled), ``"none"``, or a mapping of path to group.
    """
    if labels == "none":
        return np.full(len(paths), -1, np.int64), []
    if labels != "folders" and not isinstance(labels, dict):
        raise LookalikeError(f"labels must be folders, none or a file, not {labels!r}")
    names = label_of(paths, labels if isinstance(labels, dict) else None)
    classes = sorted({n for n in names if n is not None})
    code = {c: i for i, c in enumerate(classes)}
    return np.array([code[n] if n is not None else -1 for n in names], np.int64), classes


def labels_for(paths: Sequence[str], groups: dict[str, str] | None) -> tuple[list[int], list[str]]:
    """Rows that have a label, and the labels: the first folder of each path, or the
    ``groups`` mapping (path -> group) when given."""
    found = [(i, name) for i, name in enumerate(label_of(paths, groups)) if name is not None]
    if not found:
        raise LookalikeError("no labelled images: use class sub-folders or --groups FILE")
    return [i for i, _ in found], [name for _, name in found]
