"""Scoring the near-duplicate tier against the calibration set's truth: pairwise
precision and recall, the recall of each alteration, and how often each kind of hard
negative is wrongly called a duplicate."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.collection import Collection
from lookalike.config import DEFAULT_ENCODER
from lookalike.datasets.duplicate_set import SPLITS, DuplicateSet
from lookalike.grouping.duplicates import (
    NEIGHBOURS,
    TINY_NEIGHBOURS,
    content_order,
    default_thresholds,
    find_duplicates,
    tiny_ids,
    verify_gate,
)
from lookalike.grouping.evaluate import PairScores, near_groups, pairs_of
from lookalike.grouping.neighbours import knn_graph, pair_cosine
from lookalike.grouping.pixel_neighbours import add_pixel_candidates, small_ids
from lookalike.grouping.reports import DuplicateReport
from lookalike.grouping.verified import candidate_pairs
from lookalike.grouping.verifier import Verifier
from lookalike.grouping.verify import Rule, Rules
from lookalike.grouping.verify_fit import fit_rules
from lookalike.imageio.discover import rel_path
from lookalike.results import Progress


@dataclass(frozen=True)
class TierScores:
    """How the near tier (byte-identical copies included) agrees with the truth."""

    pairs: PairScores
    #: alteration -> (copies grouped with their original, copies)
    alterations: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: negative kind -> (pairs wrongly grouped, pairs)
    negatives: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: groups of one original and its copies: (the original kept, such groups)
    keep: tuple[int, int] = (0, 0)
    #: alteration of the copy kept instead of the original -> how often
    kept_copies: dict[str, int] = field(default_factory=dict)

    @property
    def keep_share(self) -> float:
        """Share of the groups of one original and its copies that keep the original."""
        return self.keep[0] / self.keep[1] if self.keep[1] else 1.0

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
            "keep": {
                "original_kept": self.keep[0],
                "groups": self.keep[1],
                "share": round(self.keep_share, 4),
                "copies_kept": self.kept_copies,
            },
        }


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
    ignore = set()
    member_of = {p: g for g in truth_groups for p in g}
    for a, b in truth.unjudged:
        ignore |= {tuple(sorted((m, b))) for m in member_of.get(a, [a])}
    found, true = pairs_of(predicted) - ignore, pairs_of(truth_groups)
    hit = len(found & true)
    precision = hit / len(found) if found else 1.0
    recall = hit / len(true) if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    kept, groups, copies = _keep_scores(report, truth_groups, truth.alteration)
    return TierScores(
        PairScores(precision, recall, f1, len(found), len(true)),
        {k: (v[0], v[1]) for k, v in sorted(alterations.items())},
        {k: (v[0], v[1]) for k, v in sorted(negatives.items())},
        (kept, groups),
        dict(sorted(copies.items())),
    )


def _keep_scores(
    report: DuplicateReport, truth_groups: list[list[str]], alteration: dict[str, str]
) -> tuple[int, int, dict[str, int]]:
    """How often a near group made of one original and some of its copies keeps the
    original, and which copies it keeps instead."""
    root = Path(report.root)
    original_of = {p: g[0] for g in truth_groups for p in g}
    kept = groups = 0
    copies: dict[str, int] = defaultdict(int)
    for g in report.tier("near"):
        paths = [rel_path(m.path, root) for m in g.members]
        origins = {original_of.get(p) for p in paths}
        if len(origins) != 1 or None in origins or next(iter(origins)) not in paths:
            continue
        groups += 1
        keep = rel_path(g.keep.path, root)
        if keep == next(iter(origins)):
            kept += 1
        else:
            copies[alteration.get(keep, "?")] += 1
    return kept, groups, copies


@dataclass(frozen=True)
class Calibration:
    """What calibrating on one half and checking on the other found."""

    encoder: str
    pooling: str | None
    gate: float  # candidate cosine, fitted on the calibration half
    rules: Rules  # the verifier, fitted on the calibration half
    fit: dict[str, Any]  # the fit's own figures on the calibration pairs
    candidates: int  # calibration pairs the model was fitted on
    fitted: TierScores  # the calibration half, grouped with what was fitted on it
    validation: TierScores  # the validation half: the figures to report
    unverified: TierScores  # the validation half at today's cosine threshold, no verifier
    unverified_threshold: float

    @property
    def check(self) -> RulesCheck:
        """The fitted rules' figures on both halves, as :func:`check_rules` gives them."""
        return RulesCheck(
            self.encoder,
            self.pooling,
            self.gate,
            self.rules,
            self.fitted,
            self.validation,
            self.unverified,
            self.unverified_threshold,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data: :meth:`RulesCheck.to_dict` and the fit."""
        return {**self.check.to_dict(), "fit": self.fit, "candidates": self.candidates}


def calibrate(
    truth: DuplicateSet,
    *,
    model: str = DEFAULT_ENCODER,
    pooling: str | None = None,
    gates: Sequence[float] = (0.6, 0.65, 0.7, 0.75, 0.8, 0.85),
    keep_share: float = 0.99,
    min_precision: float | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> Calibration:
    """Fit the verifier and its candidate gate on the calibration half of ``truth``, then
    group the validation half with them and score it."""
    halves = {s: truth.half(s) for s in SPLITS}
    cols = {s: Collection.open(h.root) for s, h in halves.items()}
    try:
        for col in cols.values():
            col.index(model=model, pooling=pooling, progress=progress)
        cal, cal_col = halves["calibration"], cols["calibration"]
        table = cal_col.vectors(model=model, pooling=pooling)
        paths = dict(zip(table.ids.tolist(), table.paths, strict=True))
        graph = knn_graph(cal_col, TINY_NEIGHBOURS, model=model, pooling=pooling)
        rows = cal_col.files([int(i) for i in table.ids])
        deep = tiny_ids(rows)
        # fitted on each picture's 10 nearest, more than the candidates grouping verifies
        # (CANDIDATES): more look-alikes to fit the limits on
        cands = candidate_pairs(graph, min(gates), depth=NEIGHBOURS, deep=deep)
        group_of = {p: i for i, g in enumerate(cal.groups) for p in g}
        none = Rule(0.0, 0.0, 0.0, 0.0)
        probe = Verifier(
            Rules(none, none), lambda i: cal.root / paths[i], order=content_order(rows)
        )
        small = small_ids({i: (r.width, r.height) for i, r in rows.items()})
        cands = add_pixel_candidates(
            cands, probe, small, pair_cosine(table.ids, table.vectors), min(gates)
        )
        probe.prepare({i for p in cands for i in p})
        usable = [
            (p, s)
            for p, s in sorted(cands.items())
            if probe.prints.get(p[0]) and probe.prints.get(p[1])
        ]
        signals = [v.signals for v in probe.judge_many(usable)]
        labels = [
            int(paths[a] in group_of and group_of.get(paths[b]) == group_of[paths[a]])
            for (a, b), _ in usable
        ]
        cosines = [s for _, s in usable]
        fitted, fit = fit_rules(signals, labels, min_precision=min_precision)
        pos = np.asarray(cosines)[np.asarray(labels) == 1]
        gate = max([g for g in gates if (pos >= g).mean() >= keep_share] or [min(gates)])
        base = default_thresholds(table.encoder, table.pooling).near
        scores = {}
        for s, col in cols.items():
            report = find_duplicates(col, model=model, pooling=pooling, threshold=gate,
                                     verifier=fitted)  # fmt: skip
            scores[s] = score_near_tier(report, halves[s])
        plain = find_duplicates(
            cols["validation"], model=model, pooling=pooling, threshold=base, verify=False
        )
        return Calibration(
            table.encoder,
            table.pooling,
            gate,
            fitted,
            fit,
            len(signals),
            scores["calibration"],
            scores["validation"],
            score_near_tier(plain, halves["validation"]),
            base,
        )
    finally:
        for col in cols.values():
            col.close()


@dataclass(frozen=True)
class RulesCheck:
    """Both halves of the set grouped with rules fitted before (the shipped ones, say),
    nothing fitted: a check of what ships, quick where the halves' pixel measures are
    kept from an earlier run."""

    encoder: str
    pooling: str | None
    gate: float  # candidate cosine (the shipped gate of the encoder)
    rules: Rules
    calibration: TierScores
    validation: TierScores
    unverified: TierScores  # the validation half at today's cosine threshold, no verifier
    unverified_threshold: float

    def to_dict(self) -> dict[str, Any]:
        """Plain data, in the shape of :meth:`Calibration.to_dict` less the fit."""
        return {
            "encoder": self.encoder,
            "pooling": self.pooling,
            "gate": self.gate,
            "rules": self.rules.to_dict(),
            "calibration": self.calibration.to_dict(),
            "validation": self.validation.to_dict(),
            "unverified": {"threshold": self.unverified_threshold, **self.unverified.to_dict()},
        }


def check_rules(
    truth: DuplicateSet,
    rules: Rules,
    *,
    model: str = DEFAULT_ENCODER,
    pooling: str | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> RulesCheck:
    """Group both halves of ``truth`` with ``rules`` at the encoder's shipped candidate
    gate and score them (each half's pixel measures are kept and reused, as any grouping
    keeps them)."""
    halves = {s: truth.half(s) for s in SPLITS}
    scores: dict[str, TierScores] = {}
    for split, half in halves.items():
        with Collection.open(half.root) as col:
            col.index(model=model, pooling=pooling, progress=progress)
            report = find_duplicates(col, model=model, pooling=pooling, verifier=rules)
            scores[split] = score_near_tier(report, half)
            if split != "validation":
                continue
            # the same half by cosine alone, at the shipped near threshold, for comparison
            table = col.vectors(model=model, pooling=pooling)
            base = default_thresholds(table.encoder, table.pooling).near
            plain = find_duplicates(col, model=model, pooling=pooling, threshold=base, verify=False)
            unverified = score_near_tier(plain, half)
    return RulesCheck(
        table.encoder,
        table.pooling,
        verify_gate(table.encoder, table.pooling),
        rules,
        scores["calibration"],
        scores["validation"],
        unverified,
        base,
    )
