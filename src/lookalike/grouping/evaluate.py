"""Pairwise precision, recall and F1 of groupings against a known truth, and the made
near-duplicate set that provides that truth (the transform defines which images match)."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lookalike.collection import Collection
from lookalike.datasets import SAMPLE_PHOTOS, TRANSFORMS, sample_photo
from lookalike.errors import MissingExtraError
from lookalike.grouping.duplicates import content_order, find_duplicates
from lookalike.grouping.neighbours import knn_graph
from lookalike.grouping.reports import DuplicateReport
from lookalike.grouping.verifier import Verifier
from lookalike.grouping.verify_fit import load_rules
from lookalike.imageio.discover import rel_path
from lookalike.store import write_bytes_atomic


@dataclass(frozen=True)
class PairScores:
    """Pairwise agreement of a grouping with the truth."""

    precision: float
    recall: float
    f1: float
    predicted_pairs: int
    true_pairs: int

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return asdict(self)


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
        except MissingExtraError:
            raise
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


@dataclass(frozen=True)
class ThresholdScore:
    """Pairwise scores of one tier when grouping at one threshold."""

    threshold: float
    tier: str
    scores: PairScores

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return {"threshold": self.threshold, "tier": self.tier, **self.scores.to_dict()}


def sweep_thresholds(
    col: Collection,
    truth: NearDuplicateSet,
    thresholds: Sequence[float],
    *,
    model: str | None = None,
    pooling: str | None = None,
    verify: bool = True,
) -> list[ThresholdScore]:
    """Group ``col`` at each near threshold (look-alikes at the same value) and score the
    exact and near tiers against ``truth``. Byte-identical copies count as near too, as a
    user sees them. The kNN graph, and each pair's verdict, are made once for the sweep."""
    graph = knn_graph(col, 10, model=model, pooling=pooling)
    rows_of = col.files()
    judge = (
        Verifier(load_rules(), lambda i: col.root / rows_of[i].path, order=content_order(rows_of))
        if verify
        else None
    )
    rows = []
    for t in thresholds:
        found = find_duplicates(
            col,
            threshold=t,
            similar_threshold=t,
            model=model,
            pooling=pooling,
            graph=graph,
            verify=verify,
            verifier=judge,
        )
        exact = [[rel_path(m.path, col.root) for m in g.members] for g in found.tier("exact")]
        rows.append(ThresholdScore(t, "exact", pair_scores(exact, truth.exact)))
        rows.append(ThresholdScore(t, "near", pair_scores(near_groups(found), truth.near)))
    return rows


def near_groups(report: DuplicateReport) -> list[list[str]]:
    """The near tier as a user sees it: each near group joined with the exact copies of
    its members, plus the exact groups; paths relative to the report's root."""
    root = Path(report.root)
    exact = [[rel_path(m.path, root) for m in g.members] for g in report.tier("exact")]
    copies = {p: grp for grp in exact for p in grp}
    out = []
    for g in report.tier("near"):
        members = {rel_path(m.path, root) for m in g.members}
        for p in list(members):
            members |= set(copies.get(p, []))
        out.append(sorted(members))
    return out + exact
