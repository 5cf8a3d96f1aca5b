"""``lookalike evaluate-groups``: make a near-duplicate set and score grouping on it.

``--set sample`` (the default) sweeps cosine thresholds on the scikit-image photos and
their copies. ``--set hard`` builds the calibration set (photos, wallpapers, clothing
items and icons; copies and hard negatives), fits the pixel verifier on its calibration
half and reports the validation half; with ``--rules`` it fits nothing and scores both
halves with rules fitted before (``--rules shipped``: the ones lookalike ships).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from lookalike.cli.console import QUIET_HELP, index_progress, out, set_quiet
from lookalike.config import cache_dir

if TYPE_CHECKING:
    from lookalike.grouping.calibration import Calibration, RulesCheck, TierScores


def print_tier(title: str, scores: TierScores) -> None:
    """Pairwise scores, each alteration's recall and each negative kind's error rate."""
    p = scores.pairs
    out.print(
        f"[bold]{title}[/]: precision {p.precision:.3f}, recall {p.recall:.3f}, F1 {p.f1:.3f} "
        f"({p.predicted_pairs} pairs found, {p.true_pairs} true)",
        highlight=False,
    )
    table = Table(title_justify="left")
    for name in ("alteration", "recall", "found"):
        table.add_column(name, justify="left" if name == "alteration" else "right")
    for alt, (hit, n) in scores.alterations.items():
        table.add_row(alt, f"{scores.recall_of(alt):.3f}", f"{hit}/{n}")
    negatives = Table(title_justify="left")
    for name in ("hard negative", "called duplicates", "pairs"):
        negatives.add_column(name, justify="left" if name == "hard negative" else "right")
    for kind, (bad, n) in scores.negatives.items():
        negatives.add_row(kind, f"{scores.false_positive_rate(kind):.3f}", f"{bad}/{n}")
    out.print(table)
    out.print(negatives)
    kept, groups = scores.keep
    out.print(
        f"keep rule: the original kept in {kept} of {groups} groups of one picture and its "
        f"copies ({scores.keep_share:.1%}); copies kept instead: {scores.kept_copies or 'none'}",
        highlight=False,
    )


def print_calibration(c: Calibration) -> None:
    """The fitted verifier and the validation half's figures."""
    r = c.rules
    _print_header(c.check, f"verifier fitted on {c.candidates:,} calibration pairs")
    label = {"tiny": "tiny pictures", "small": "small pictures", "framed": "same framing",
             "regular": "realigned" if r.framed else "regular pictures"}  # fmt: skip
    for name, rule in r.named().items():
        out.print(
            f"  {label[name]}: difference ≤ {rule.difference:.2f}, local ≤ {rule.local:.2f}, "
            f"fine ≤ {rule.fine:.2f}, colour ≤ {rule.colour:.2f}  (fit: {c.fit[name]})",
            highlight=False,
        )
    _print_halves(c.check, "calibration half, verified (fitted here)")


def print_check(c: RulesCheck, source: str) -> None:
    """Both halves' figures with rules fitted before."""
    _print_header(c, f"rules: {source} (nothing fitted here)")
    _print_halves(c, "calibration half, verified")


def _print_header(c: RulesCheck, rules: str) -> None:
    out.print(
        f"[bold]{c.encoder} ({c.pooling or '-'})[/]: candidates at cosine ≥ {c.gate:.2f}; {rules}",
        highlight=False,
    )


def _print_halves(c: RulesCheck, calibration_title: str) -> None:
    print_tier("validation half, verified", c.validation)
    print_tier(f"validation half, cosine ≥ {c.unverified_threshold:.2f} only", c.unverified)
    print_tier(calibration_title, c.calibration)


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command("evaluate-groups")
    def evaluate_groups(
        out_dir: Annotated[
            Path | None,
            typer.Option("--out", help="Where to make the set (default: a cache folder)."),
        ] = None,
        which: Annotated[
            str, typer.Option("--set", help="sample (scikit-image photos) or hard.")
        ] = "sample",
        model: Annotated[str, typer.Option("--model", "-m")] = "efficientnet-lite0",
        pooling: Annotated[
            str | None, typer.Option(help="Embedding method (the encoder's default if unset).")
        ] = None,
        thresholds: Annotated[
            str, typer.Option(help="sample: comma-separated near thresholds to sweep.")
        ] = "0.5,0.55,0.6,0.65,0.7,0.75,0.8,0.85,0.9,0.95",
        save_rules: Annotated[
            Path | None, typer.Option(help="hard: write the fitted verifier rules here.")
        ] = None,
        rules: Annotated[
            str | None,
            typer.Option(
                help="hard: fit nothing; score both halves with these rules (a file saved "
                "by --save-rules, or 'shipped')."
            ),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
        verify: Annotated[
            bool, typer.Option(help="sample: verify pairs on the pixels (--no-verify: cosine).")
        ] = True,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help=QUIET_HELP)] = False,
    ) -> None:
        """Make a near-duplicate set and score grouping on it."""
        set_quiet(quiet)
        from lookalike.collection import Collection
        from lookalike.grouping import make_near_duplicate_set, sweep_thresholds

        if which == "hard":
            _hard(out_dir or cache_dir() / "sets" / "near-duplicates-hard", model, pooling,
                  save_rules, as_json, rules)  # fmt: skip
            return
        if which != "sample":
            raise typer.BadParameter("use sample or hard", param_hint="--set")
        folder = out_dir or cache_dir() / "sets" / "near-duplicates-sample"
        truth = make_near_duplicate_set(folder)
        with Collection.open(folder) as col:
            with index_progress(enabled=not as_json) as tick:
                report = col.index(model=model, pooling=pooling, progress=tick)
            rows = sweep_thresholds(
                col, truth, [float(x) for x in thresholds.split(",")], model=model,
                pooling=report.pooling, verify=verify,
            )  # fmt: skip
        if as_json:
            print(json.dumps([r.to_dict() for r in rows], indent=2))
            return
        table = Table(
            title=f"pairwise scores on {folder} ({model}, {report.pooling or '-'})",
            title_justify="left",
        )
        for name in ("threshold", "tier", "precision", "recall", "F1", "pairs"):
            table.add_column(name, justify="right")
        for r in rows:
            s = r.scores
            table.add_row(
                f"{r.threshold:.2f}", r.tier, f"{s.precision:.3f}", f"{s.recall:.3f}",
                f"{s.f1:.3f}", f"{s.predicted_pairs}/{s.true_pairs}",
            )  # fmt: skip
        out.print(table)
        n_near = sum(len(g) for g in truth.near)
        out.print(
            f"set: {len(truth.near)} photos with altered copies ({n_near} images), "
            f"{len(truth.singles)} single photos, {len(truth.exact)} byte-identical copies",
            highlight=False,
        )
        sys.stdout.flush()


def _hard(
    folder: Path,
    model: str,
    pooling: str | None,
    rules_out: Path | None,
    as_json: bool,
    rules_in: str | None = None,
) -> None:
    from lookalike.datasets.duplicate_set import build_duplicate_set, load_duplicate_set
    from lookalike.datasets.duplicate_sources import SOURCES
    from lookalike.grouping.calibration import calibrate, check_rules
    from lookalike.grouping.verify_fit import load_rules, save_rules

    if rules_in is not None and rules_out is not None:
        raise typer.BadParameter("--rules fits nothing to save", param_hint="--save-rules")
    given = None
    if rules_in is not None:  # read first: a wrong path fails before any work
        given = load_rules(None if rules_in == "shipped" else rules_in)

    truth = load_duplicate_set(folder)
    if truth is None:
        if not as_json:
            out.print(f"building the calibration set in {folder} (a few minutes, once)…")
        truth = build_duplicate_set(folder, SOURCES)
    if not as_json:
        out.print(
            f"set: {truth.originals:,} originals ({truth.sources}), {len(truth.split):,} files, "
            f"{len(truth.negatives):,} labelled hard negatives",
            highlight=False,
        )
    if given is not None:
        with index_progress(enabled=not as_json) as tick:
            check = check_rules(truth, given, model=model, pooling=pooling, progress=tick)
        if as_json:
            print(json.dumps(check.to_dict(), indent=2))
        else:
            print_check(check, rules_in or "")
        return
    with index_progress(enabled=not as_json) as tick:
        result = calibrate(truth, model=model, pooling=pooling, progress=tick)
    if rules_out:
        save_rules(result.rules, rules_out, notes={
            "encoder": result.encoder, "pooling": result.pooling, "gate": result.gate,
            "fit": result.fit, "set": truth.sources,
        })  # fmt: skip
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print_calibration(result)
