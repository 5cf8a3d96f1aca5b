"""Scoring the near-duplicate tier against the calibration set's truth: pairwise
precision and recall, the recall of each alteration, and how often each kind of hard
negative is wrongly called a duplicate."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lookalike.datasets.duplicate_set import DuplicateSet
from lookalike.grouping.evaluate import PairScores, pair_scores
from lookalike.grouping.reports import DuplicateReport


@dataclass(frozen=True)
class TierScores:
    """How the near tier (byte-identical copies included) agrees with the truth."""

    pairs: PairScores
    #: alteration -> (copies grouped with their original, copies)
    alterations: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: negative kind -> (pairs wrongly grouped, pairs)
    negatives: dict[str, tuple[int, int]] = field(default_factory=dict)

    def recall_of(self, alteration: str) -> float:
        """Share of copies made by ``alteration`` found with their original."""
        hit, n = self.alterations[alteration]
        return hit / n if n else 1.0

    def false_positive_rate(self, kind: str) -> float:
        """Share of hard-negative pairs of ``kind`` put in one near-duplicate group."""
        bad, n = self.negatives[kind]
        return bad / n if n else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return {
            **self.pairs.to_dict(),
            "alterations": {
                a: {"found": h, "copies": n, "recall": round(self.recall_of(a), 4)}
                for a, (h, n) in self.alterations.items()
            },
            "negatives": {
                k: {"grouped": b, "pairs": n, "rate": round(self.false_positive_rate(k), 4)}
                for k, (b, n) in self.negatives.items()
            },
        }


def near_groups(report: DuplicateReport) -> list[list[str]]:
    """The near tier as a user sees it: each near group joined with the exact copies of
    its members, plus the exact groups; paths relative to the report's root."""
    root = Path(report.root)
    exact = [[_rel(m.path, root) for m in g.members] for g in report.tier("exact")]
    copies = {p: grp for grp in exact for p in grp}
    out = []
    for g in report.tier("near"):
        members = {_rel(m.path, root) for m in g.members}
        for p in list(members):
            members |= set(copies.get(p, []))
        out.append(sorted(members))
    return out + exact


def score_near_tier(report: DuplicateReport, truth: DuplicateSet) -> TierScores:
    """Score ``report`` (grouping of one half of the set) against that half's truth."""
    predicted = near_groups(report)
    group_of = {p: i for i, g in enumerate(predicted) for p in g}
    truth_groups = [g for g in truth.groups if len(g) >= 2]
    alterations: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for g in truth_groups:
        original = g[0]
        for copy in g[1:]:
            counts = alterations[truth.alteration.get(copy, "?")]
            counts[1] += 1
            if original in group_of and group_of.get(copy) == group_of[original]:
                counts[0] += 1
    negatives: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for a, b, kind in truth.negatives:
        counts = negatives[kind]
        counts[1] += 1
        if a in group_of and group_of.get(b) == group_of[a]:
            counts[0] += 1
    return TierScores(
        pair_scores(predicted, truth_groups),
        {k: (v[0], v[1]) for k, v in sorted(alterations.items())},
        {k: (v[0], v[1]) for k, v in sorted(negatives.items())},
    )


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
