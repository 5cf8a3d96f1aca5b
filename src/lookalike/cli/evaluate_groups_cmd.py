"""``lookalike evaluate-groups``: make the near-duplicate set and score grouping on it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lookalike.cli.console import index_progress, out
from lookalike.collection import Collection
from lookalike.grouping import make_near_duplicate_set, sweep_thresholds


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command("evaluate-groups")
    def evaluate_groups(
        out_dir: Annotated[Path, typer.Option("--out", help="Where to make the set.")] = Path(
            "demo/near-duplicates"
        ),
        model: Annotated[str, typer.Option("--model", "-m")] = "efficientnet-lite0",
        pooling: Annotated[
            str | None, typer.Option(help="Embedding method (the encoder's default if unset).")
        ] = None,
        thresholds: Annotated[
            str, typer.Option(help="Comma-separated near thresholds to sweep.")
        ] = "0.5,0.55,0.6,0.65,0.7,0.75,0.8,0.85,0.9,0.95",
    ) -> None:
        """Make a near-duplicate set from the sample photos and score grouping on it."""
        truth = make_near_duplicate_set(out_dir)
        with Collection.open(out_dir) as col:
            with index_progress() as tick:
                report = col.index(model=model, pooling=pooling, progress=tick)
            rows = sweep_thresholds(
                col,
                truth,
                [float(x) for x in thresholds.split(",")],
                model=model,
                pooling=report.pooling,
            )
        table = Table(
            title=f"pairwise scores on {out_dir} ({model}, {report.pooling or '-'})",
            title_justify="left",
        )
        for name in ("threshold", "tier", "precision", "recall", "F1", "pairs"):
            table.add_column(name, justify="right")
        for r in rows:
            s = r.scores
            table.add_row(
                f"{r.threshold:.2f}",
                r.tier,
                f"{s.precision:.3f}",
                f"{s.recall:.3f}",
                f"{s.f1:.3f}",
                f"{s.predicted_pairs}/{s.true_pairs}",
            )
        out.print(table)
        n_near = sum(len(g) for g in truth.near)
        out.print(
            f"set: {len(truth.near)} photos with altered copies ({n_near} images), "
            f"{len(truth.singles)} single photos, {len(truth.exact)} byte-identical copies",
            highlight=False,
        )
        sys.stdout.flush()
