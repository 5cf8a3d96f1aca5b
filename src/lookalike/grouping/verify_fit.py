"""Fitting the verifier's limits on labelled candidate pairs (the calibration half of the
near-duplicate set), and reading and writing them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.errors import StoreError
from lookalike.grouping.verify import KINDS, REGIONAL, PairSignals, Rule, Rules, pair_kind
from lookalike.store import write_bytes_atomic

#: The rules shipped with lookalike, fitted with ``lookalike evaluate-groups --set hard``.
SHIPPED = "verifier.json"
#: The limits tried for each signal (9.0 and 0.0: no limit).
GRID = {
    "difference": np.round(np.arange(0.05, 0.61, 0.05), 2),
    "local": np.round(np.arange(0.1, 2.01, 0.1), 2),
    "fine": np.round([*np.arange(0.2, 2.61, 0.2), 9.0], 2),
    "colour": np.round([0.15, *np.arange(0.2, 0.61, 0.05), *np.arange(0.8, 2.01, 0.2)], 2),
}
#: The steps each limit then moves by, one limit at a time with the others held
#: (coordinate ascent), colourfulness and overlap included.
STEPS = {
    "difference": np.round(np.arange(0.02, 0.601, 0.01), 2),
    "local": np.round(np.arange(0.05, 2.001, 0.05), 2),
    "fine": np.round([*np.arange(0.05, 2.601, 0.05), 9.0], 2),
    "colour": np.round(np.arange(0.05, 2.001, 0.05), 2),
    "chroma": np.round([*np.arange(0.05, 0.801, 0.05), 9.0], 2),
    "overlap": np.round(np.arange(0.0, 0.801, 0.05), 2),
    "tone": np.round([*np.arange(0.05, 0.501, 0.025), 9.0], 3),
    "patch": np.round([*np.arange(0.3, 3.01, 0.1), 9.0], 2),
    "focus": np.round([*np.arange(10, 101, 5), 999.0], 0),
    "hue": np.round([*np.arange(20, 181, 5), 999.0], 0),
}


#: Where the precision asked for is out of reach, the F-score with this beta is kept
#: (below 1: precision weighs more).
BETA = 0.5


#: The overlay a regular pair's regional change may be (sign at least, solid at most):
#: chosen on the calibration half's original-and-copy pairs (photos and wallpapers), where
#: every rejected watermark had sign >= 0.86 (all but one 1.0) and solid <= 0.38, every
#: pasted object solid >= 0.42, and every changed caption sign <= 0.56.
OVERLAY = (0.95, 0.4)
#: ... and the hue it may turn (mean degrees, :attr:`PairSignals.turn`): on the calibration
#: half, no excused copy turned it by more than 11.4 (a white watermark pales colours and
#: keeps their hue), while a disc drawn in other colours over a pale wall turned it by
#: 106 to 116; 30 leaves room for coding noise.
TURN = 30.0
#: ... and how one way the region around it must move on the whole (:attr:`PairSignals.net`):
#: on the calibration half, the copies that needed the excuse (among the pairs a grouping
#: judges) reached down to 0.33 (brightened copies, whose clipped highlights move down
#: once grey levels are normalised; watermarked ones 0.47), while 13 of the 24 pairs of a
#: blended object that needed it read 0.18 or less; the limit sits :data:`MARGIN` below
#: the lowest copy. Any limit from 0.1 to 0.5 groups that half alike.
NET = 0.26
#: Where one spot stands out in the same framing (``focus`` above
#: :data:`~lookalike.grouping.verify.SPOT`), how well the two pictures must correlate there
#: (:attr:`PairSignals.likeness`): on the calibration half, the same-framing copies that
#: pass every other limit and stand out that much read 0.41 and more (a letterboxed copy
#: against a mirrored one), and the limit sits :data:`MARGIN` below that; 15 of the 17
#: such pairs of different pictures (blended objects) read 0.09 and less (of the other
#: two, one's most changed window was flat, which reads 1). Measured again with faint
#: windows compared (signals version 7): copies 0.41 and more as before, and 18 of 19
#: such pairs 0.09 and less (the other pairs a blended and a pasted object, 0.96).
LIKENESS = 0.33
#: ... and how much of what the overlay touched may stay after a 3 x 3 erosion
#: (:attr:`PairSignals.body`): on the calibration half, the copies that needed the excuse
#: (among the pairs a grouping judges) read 0.68 at most (watermarks whose anti-aliased
#: strokes run together), and the limit sits :data:`MARGIN` above that. An opaque brick
#: wall pasted over grass, whose bright mortar lines look like a watermark's strokes by
#: ``sign`` and ``solid``, reads 0.87 and more (validation half; the calibration half
#: held no such pair).
BODY = 0.85
#: ... and, in the same framing, how far what the network sees in the most changed cell
#: may move where one spot stands out (:attr:`PairSignals.semantic`, measured only for
#: pairs that pass every other limit): on the calibration half, the copies that stand
#: out that much and pass every other limit read 0.52 at most (72 of 76 under 0.40; 0.65
#: with the cells along the picture's edge, a letterboxed copy's), and the limit sits
#: :data:`MARGIN` above that. That half's blended objects that stand out were all
#: refused already, so the limit is fitted on its copies alone.
SEMANTIC = 0.65

#: How far beyond the calibration copies a limit the fit left open is set (see
#: :func:`fit_rule`).
MARGIN = 1.25

Limits = dict[str, float]


def fit_rule(
    signals: Sequence[PairSignals],
    labels: Sequence[int],
    *,
    min_precision: float | None = None,
    overlay: tuple[float, float] | None = None,
    likeness: float | None = None,
) -> tuple[Rule, dict[str, float]]:
    """The limits with the best F0.5 (precision weighted twice) on these pairs, or with
    ``min_precision``, the ones that admit the most true pairs while the admitted pairs
    keep that precision (the best F0.5 where none does); and their figures.
    ``overlay`` (sign, solid) excuses a region or detail that differs when the change is
    a thin one-way overlay (:meth:`Rule.overlay`); the other limits are fitted with it.
    The four pixel limits are searched on a coarse grid, then each limit (colourfulness
    and overlap too) moves in finer steps with the others held, until none improves; a
    limit still open then sits :data:`MARGIN` beyond every copy admitted. ``likeness``
    refuses a spot that shows other content (:meth:`Rule.replaced`) before any limit."""
    y = np.asarray(labels, bool)
    if not len(y):
        raise StoreError("no pair to fit the verifier on")
    aligned = np.asarray([s.aligned != "none" for s in signals])
    names = list(STEPS)
    values = {k: np.asarray([getattr(s, k) for s in signals], float) for k in names}
    # the overlay and spot tests of the rule this fit makes (without ``overlay`` it
    # excuses nothing): regional changes excused as an overlay, and spots that show other
    # content, refused whatever the limits
    probe = Rule(0.0, 0.0, 0.0, 0.0, *(overlay or (None, None)), turn=TURN, net=NET,
                 likeness=likeness, body=BODY)  # fmt: skip
    excused = np.asarray([probe.overlay(s) for s in signals], bool)
    replaced = np.asarray([probe.replaced(s) for s in signals], bool)
    n_true = max(1, int(y.sum()))

    def key(ok: np.ndarray) -> tuple[tuple[int, float, int], int, int]:
        tp, fp = int((ok & y).sum()), int((ok & ~y).sum())
        if tp == 0:
            return (-1, 0.0, 0), tp, fp
        precision, recall = tp / (tp + fp), tp / n_true
        # reaching the precision comes first, then recall; where no limits reach it
        # (mislabelled pairs in the data), the best F-score weighted towards precision
        b2 = BETA * BETA
        score = (1 + b2) * precision * recall / (b2 * precision + recall)
        # at equal true pairs, fewer wrong ones: a limit that costs no copy still counts
        met = min_precision is not None and precision >= min_precision
        return ((1, tp, -fp) if met else (0, score, -fp)), tp, fp

    def admitted(lim: Limits) -> np.ndarray:
        regional = np.logical_and.reduce([values[name] <= lim[name] for name in REGIONAL])
        return (
            aligned
            & ~replaced
            & (values["difference"] <= lim["difference"])
            & (regional | excused)
            & (values["colour"] <= lim["colour"])
            & (values["chroma"] <= lim["chroma"])
            & (values["overlap"] >= lim["overlap"])
            & (values["tone"] <= lim["tone"])
            & (values["hue"] <= lim["hue"])
        )

    def f_score(ok: np.ndarray) -> tuple[int, float, int]:
        k = key(ok)[0]
        return (0, k[1], k[2]) if k[0] == 1 else k  # the F-score alone

    free = {"chroma": 9.0, "overlap": 0.0, "tone": 9.0, "patch": 9.0, "focus": 999.0, "hue": 999.0}
    starts: dict[str, tuple[tuple[int, float, int], Limits]] = {}
    for d in GRID["difference"]:
        a1 = aligned & ~replaced & (values["difference"] <= d)
        for loc in GRID["local"]:
            a2 = values["local"] <= loc
            for f in GRID["fine"]:
                a3 = a1 & ((a2 & (values["fine"] <= f)) | excused)
                for c in GRID["colour"]:
                    ok = a3 & (values["colour"] <= c)
                    lim = {"difference": d, "local": loc, "fine": f, "colour": c, **free}
                    for name, k in (("key", key(ok)[0]), ("f", f_score(ok))):
                        if name not in starts or k > starts[name][0]:
                            starts[name] = (k, lim)

    def ascend(lim: Limits) -> tuple[tuple[int, float, int], Limits]:
        best = (key(admitted(lim))[0], lim)
        for _ in range(6):  # coordinate ascent: one limit at a time, the others held
            moved = False
            for name in names:
                for v in STEPS[name]:
                    trial = {**best[1], name: float(v)}
                    k = key(admitted(trial))[0]
                    if k > best[0]:
                        best, moved = (k, trial), True
            if not moved:
                break
        return best

    # from the grid's best by the criterion, and by the F-score alone (a start that meets
    # the precision by refusing most pairs can trap the ascent)
    best = max((ascend(lim) for _, lim in starts.values()), key=lambda b: b[0])
    lim = {k: float(v) for k, v in best[1].items()}
    # a signal left without a limit still gets one just beyond every copy it admits
    # (MARGIN): it costs the calibration half nothing, and guards against a kind of
    # negative that half holds too few of to need it
    kept = admitted(lim) & y
    for name, free_value in free.items():
        if lim[name] != free_value:
            continue
        among = kept & ~excused if name in REGIONAL else kept
        if not among.any():
            continue
        if name == "overlap":
            lim[name] = float(np.floor(values[name][among].min() / MARGIN * 100) / 100)
        else:
            lim[name] = float(np.round(values[name][among].max() * MARGIN, 2))
    _, tp, fp = key(admitted(lim))
    rule = Rule(
        lim["difference"],
        lim["local"],
        lim["fine"],
        lim["colour"],
        *(overlay or (None, None)),
        chroma=None if lim["chroma"] >= 9.0 else lim["chroma"],
        overlap=None if lim["overlap"] <= 0.0 else lim["overlap"],
        tone=None if lim["tone"] >= 9.0 else lim["tone"],
        patch=None if lim["patch"] >= 9.0 else lim["patch"],
        focus=None if lim["focus"] >= 999.0 else lim["focus"],
        turn=TURN if overlay is not None else None,
        net=NET if overlay is not None else None,
        body=BODY if overlay is not None else None,
        hue=None if lim["hue"] >= 999.0 else lim["hue"],
        likeness=likeness,
    )
    figures = {
        "pairs": len(y),
        "true": int(y.sum()),
        "admitted": tp + fp,
        "correct": tp,
        "precision": round(tp / max(1, tp + fp), 4),
        "recall": round(tp / n_true, 4),
    }
    return rule, figures


#: A kind of pair (small, framed) gets a rule of its own where the calibration pairs hold
#: at least this many true ones of it; otherwise the regular rule judges it, fitted with
#: its pairs.
MIN_TRUE = 100


def fit_rules(
    signals: Sequence[PairSignals], labels: Sequence[int], *, min_precision: float | None = None
) -> tuple[Rules, dict[str, Any]]:
    """A rule for each kind of pair (:data:`~lookalike.grouping.verify.KINDS`) that has
    enough true pairs to fit one: watermark-like overlays are excused on pictures of
    ordinary size, never on small or tiny ones; a spot of other content
    (:data:`LIKENESS`) is refused in the same framing."""
    kinds = [pair_kind(s) for s in signals]
    for kind in ("small", "framed"):  # too few to fit: judged and fitted as regular
        if sum(1 for k, y in zip(kinds, labels, strict=True) if k == kind and y) < MIN_TRUE:
            kinds = ["regular" if k == kind else k for k in kinds]
    fitted, notes = {}, {}
    for name in KINDS:
        rows = [i for i, k in enumerate(kinds) if k == name]
        if not rows and name not in ("regular", "tiny"):
            continue
        fitted[name], notes[name] = fit_rule(
            [signals[i] for i in rows],
            [labels[i] for i in rows],
            min_precision=min_precision,
            overlay=OVERLAY if name in ("regular", "framed") else None,
            likeness=LIKENESS if name == "framed" else None,
        )
        if name == "framed":  # measured only for pairs that pass the rule: set after it
            fitted[name] = replace(fitted[name], semantic=SEMANTIC)
    return Rules(**fitted), notes


def save_rules(rules: Rules, path: str | Path, *, notes: dict[str, Any] | None = None) -> Path:
    """Write the rules (and what they were fitted on) as JSON, atomically."""
    data = {**rules.to_dict(), "notes": notes or {}}
    return write_bytes_atomic(Path(path), json.dumps(data, indent=2).encode())


def load_rules(path: str | Path | None = None) -> Rules:
    """Saved rules; the shipped ones by default."""
    try:
        if path is None:
            text = resources.files("lookalike.grouping").joinpath(SHIPPED).read_text()
        else:
            text = Path(path).read_text()
        data = json.loads(text)
        return Rules.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"cannot read the verifier's rules ({path or SHIPPED}): {exc}") from None
