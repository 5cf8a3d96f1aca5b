"""Fitting the verifier's limits on labelled candidate pairs (the calibration half of the
near-duplicate set), and reading and writing them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.errors import StoreError
from lookalike.grouping.verify import PairSignals, Rule, Rules
from lookalike.store import write_bytes_atomic

#: The rules shipped with lookalike, fitted with ``lookalike evaluate-groups --set hard``.
SHIPPED = "verifier.json"
#: The limits tried for each signal.
GRID = {
    "difference": np.round(np.arange(0.05, 0.61, 0.05), 2),
    "local": np.round(np.arange(0.1, 2.01, 0.1), 2),
    "fine": np.round([*np.arange(0.2, 2.61, 0.2), 9.0], 2),
    "colour": np.round(np.arange(0.2, 2.01, 0.2), 2),
}


#: The overlay a regular pair's regional change may be (sign at least, solid at most):
#: chosen on the calibration half's original-and-copy pairs (photos and wallpapers), where
#: every rejected watermark had sign >= 0.86 (all but one 1.0) and solid <= 0.38, every
#: pasted object solid >= 0.42, and every changed caption sign <= 0.56.
OVERLAY = (0.95, 0.4)


def fit_rule(
    signals: Sequence[PairSignals],
    labels: Sequence[int],
    *,
    min_precision: float = 0.995,
    overlay: tuple[float, float] | None = None,
) -> tuple[Rule, dict[str, float]]:
    """The limits that admit the most true pairs while the admitted pairs keep
    ``min_precision`` (the most precise limits where none does), and their figures.
    ``overlay`` (sign, solid) excuses a region or detail that differs when the change is
    a thin one-way overlay (:meth:`Rule.overlay`); the other limits are fitted with it."""
    y = np.asarray(labels, bool)
    aligned = np.asarray([s.aligned != "none" for s in signals])
    values = {k: np.asarray([getattr(s, k) for s in signals]) for k in GRID}
    excused = np.zeros(len(y), bool)  # regional changes excused as an overlay
    if overlay is not None:
        signs = np.asarray([s.sign for s in signals])
        solids = np.asarray([s.solid for s in signals])
        excused = (signs >= overlay[0]) & (solids <= overlay[1])
    best: tuple[tuple[int, float], Rule, int, int] | None = None
    n_true = max(1, int(y.sum()))
    for d in GRID["difference"]:
        a1 = aligned & (values["difference"] <= d)
        for loc in GRID["local"]:
            a2 = values["local"] <= loc
            for f in GRID["fine"]:
                a3 = a1 & ((a2 & (values["fine"] <= f)) | excused)
                for c in GRID["colour"]:
                    ok = a3 & (values["colour"] <= c)
                    tp, fp = int((ok & y).sum()), int((ok & ~y).sum())
                    if tp == 0:
                        continue
                    precision = tp / (tp + fp)
                    recall = tp / n_true
                    # reaching the precision comes first, then recall; where no limits reach
                    # it (mislabelled pairs in the data), the best F-score weighted 4:1
                    # towards precision
                    score = 17 * precision * recall / (precision + 16 * recall)
                    key = (1, tp) if precision >= min_precision else (0, score)
                    if best is None or key > best[0]:
                        limits = (float(d), float(loc), float(f), float(c))
                        best = (key, Rule(*limits, *(overlay or (None, None))), tp, fp)
    if best is None:
        raise StoreError("no pair to fit the verifier on")
    _, rule, tp, fp = best
    figures = {
        "pairs": len(y),
        "true": int(y.sum()),
        "admitted": tp + fp,
        "correct": tp,
        "precision": round(tp / (tp + fp), 4),
        "recall": round(tp / max(1, int(y.sum())), 4),
    }
    return rule, figures


def fit_rules(
    signals: Sequence[PairSignals], labels: Sequence[int], *, min_precision: float = 0.995
) -> tuple[Rules, dict[str, Any]]:
    """One rule for regular pairs (watermark-like overlays excused) and one for pairs
    with a tiny picture (no overlay at their size)."""
    fitted, notes = {}, {}
    for tiny, name in ((False, "regular"), (True, "tiny")):
        rows = [k for k, s in enumerate(signals) if s.tiny == tiny]
        fitted[name], notes[name] = fit_rule(
            [signals[k] for k in rows],
            [labels[k] for k in rows],
            min_precision=min_precision,
            overlay=None if tiny else OVERLAY,
        )
    return Rules(regular=fitted["regular"], tiny=fitted["tiny"]), notes


def save_rules(rules: Rules, path: str | Path, *, notes: dict[str, Any] | None = None) -> Path:
    """Write the rules (and what they were fitted on) as JSON, atomically."""
    data = {"regular": asdict(rules.regular), "tiny": asdict(rules.tiny), "notes": notes or {}}
    return write_bytes_atomic(Path(path), json.dumps(data, indent=2).encode())


def load_rules(path: str | Path | None = None) -> Rules:
    """Saved rules; the shipped ones by default."""
    try:
        if path is None:
            text = resources.files("lookalike.grouping").joinpath(SHIPPED).read_text()
        else:
            text = Path(path).read_text()
        data = json.loads(text)
        return Rules(regular=Rule(**data["regular"]), tiny=Rule(**data["tiny"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"cannot read the verifier's rules ({path or SHIPPED}): {exc}") from None
