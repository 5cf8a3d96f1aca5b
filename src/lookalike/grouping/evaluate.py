"""Pairwise precision, recall and F1 of groupings against a known truth, and the made
near-duplicate set that provides that truth (the transform defines which images match)."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lookalike.datasets import SAMPLE_PHOTOS, TRANSFORMS, sample_photo
from lookalike.store import write_bytes_atomic


@dataclass(frozen=True)
class PairScores:
    """Pairwise agreement of a grouping with the truth."""

    precision: float
    recall: float
    f1: float
    predicted_pairs: int
    true_pairs: int


def pairs_of(groups: Iterable[Sequence[str]]) -> set[tuple[str, str]]:
    """Every unordered pair inside each group."""
    out = set()
    for g in groups:
        members = sorted(set(g))
        out.update((a, b) for i, a in enumerate(members) for b in members[i + 1 :])
    return out


def pair_scores(predicted: Iterable[Sequence[str]], truth: Iterable[Sequence[str]]) -> PairScores:
    """Precision, recall and F1 over pairs (1.0 where nothing was to be found or predicted)."""
    p, t = pairs_of(predicted), pairs_of(truth)
    hit = len(p & t)
    precision = hit / len(p) if p else 1.0
    recall = hit / len(t) if t else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PairScores(precision, recall, f1, len(p), len(t))


@dataclass(frozen=True)
class NearDuplicateSet:
    """The made set: where it is, and its true groups by tier (relative paths)."""

    root: Path
    exact: list[list[str]]
    near: list[list[str]]
    singles: list[str]


def make_near_duplicate_set(
    out: Path, *, with_copies: int | None = None, singles: int | None = None
) -> NearDuplicateSet:
    """Each of the first photos gets every altered copy (JPEG q30, 50% resize, 85% crop,
    mirror, +20% brightness, 5 degree rotation, watermark); the rest stay single. Two
    byte-identical copies give the exact tier its truth."""
    photos = []
    for name in SAMPLE_PHOTOS:
        try:
            photos.append((name, sample_photo(name)))
        except Exception:  # a photo this scikit-image cannot load offline
            continue
    n_copies = with_copies if with_copies is not None else len(photos) // 2
    n_single = singles if singles is not None else len(photos) - n_copies
    out = Path(out)
    near, exact, single = [], [], []
    for i, (name, im) in enumerate(photos[: n_copies + n_single]):
        targets = {f"{name}/original.jpg": im}
        if i < n_copies:
            targets |= {f"{name}/{t}.jpg": fn(im) for t, fn in TRANSFORMS.items()}
        for rel, picture in targets.items():
            if not (out / rel).exists():
                buf = io.BytesIO()
                picture.save(buf, "JPEG", quality=92)
                write_bytes_atomic(out / rel, buf.getvalue())
        if i < n_copies:
            group = sorted(targets)
            if i < 2:  # byte-identical copy
                copy = f"{name}/copy-of-original.jpg"
                if not (out / copy).exists():
                    shutil.copyfile(out / f"{name}/original.jpg", out / copy)
                exact.append([f"{name}/original.jpg", copy])
                group.append(copy)
            near.append(group)
        else:
            single.append(f"{name}/original.jpg")
    return NearDuplicateSet(out, exact, near, single)
