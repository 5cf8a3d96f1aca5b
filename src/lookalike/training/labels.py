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


def label_codes(
    paths: Sequence[str], labels: str | dict[str, str]
) -> tuple[NDArray[np.int64], list[str]]:
    """One integer class per path (``-1`` = unlabelled) and the class names.

    ``labels`` is ``"folders"`` (the first folder of each path; images at the top level
    stay unlabelled), ``"none"``, or a mapping of path to group.
    """
    if labels == "none":
        return np.full(len(paths), -1, np.int64), []
    if labels == "folders":
        names = [p.split("/", 1)[0] if "/" in p else None for p in paths]
    elif isinstance(labels, dict):
        names = [labels.get(p) for p in paths]
    else:
        raise LookalikeError(f"labels must be folders, none or a file, not {labels!r}")
    classes = sorted({n for n in names if n is not None})
    code = {c: i for i, c in enumerate(classes)}
    return np.array([code[n] if n is not None else -1 for n in names], np.int64), classes


def labels_for(paths: Sequence[str], groups: dict[str, str] | None) -> tuple[list[int], list[str]]:
    """Rows that have a label, and the labels: the first folder of each path, or the
    ``groups`` mapping (path -> group) when given."""
    keep, labels = [], []
    for i, p in enumerate(paths):
        if groups is not None:
            if p in groups:
                keep.append(i)
                labels.append(groups[p])
        elif "/" in p:
            keep.append(i)
            labels.append(p.split("/", 1)[0])
    if not keep:
        raise LookalikeError("no labelled images: use class sub-folders or --groups FILE")
    return keep, labels
