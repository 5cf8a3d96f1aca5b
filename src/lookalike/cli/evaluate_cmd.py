"""``lookalike evaluate DIR`` and ``lookalike datasets list|fetch``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from lookalike.cli.console import QUIET_HELP, index_progress, out, set_quiet
from lookalike.config import POOLINGS

if TYPE_CHECKING:
    from lookalike.evaluation.grid import GridRow


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _write_outputs(rows: list[GridRow], folder: Path, out_dir: Path, quiet: bool) -> None:
    """table.md, table.csv, the chart and a sheet of best and worst queries per row."""
    from lookalike.evaluation.grid import bar_chart, query_sheets, to_csv, to_markdown
    from lookalike.store import write_bytes_atomic

    out_dir.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out_dir / "table.md", to_markdown(rows).encode())
    write_bytes_atomic(out_dir / "table.csv", to_csv(rows).encode())
    bar_chart(rows, out_dir / "chart.png")
    for i, r in enumerate(rows, 1):
        query_sheets(r, folder.resolve(), out_dir / f"queries-{i:02d}.png")
    if not quiet:
        out.print(
            f"wrote table.md, table.csv, chart.png and {len(rows)} query sheets to {out_dir}",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    """Add the commands to the app."""

    @app.command("evaluate")
    def evaluate_cmd(
        folder: Annotated[Path, typer.Argument(help="Labelled collection: class = sub-folder.")],
        models: Annotated[str, typer.Option("--model", "-m", help="Comma-separated encoders.")] = (
            "efficientnet-lite0"
        ),
        poolings: Annotated[
            str,
            typer.Option(
                "--pooling",
                help=f"Comma-separated: {','.join(POOLINGS)} (default: each model's own).",
            ),
        ] = "",
        metrics: Annotated[str, typer.Option("--metric", help="cosine,euclidean")] = "cosine",
        indexes: Annotated[str, typer.Option("--index", help="exact,hnsw,ivf,lsh,...")] = "exact",
        k: Annotated[int, typer.Option("-k", "--k", min=1, help="k of P@k and recall@k.")] = 8,
        groups: Annotated[
            Path | None, typer.Option(help="JSON or CSV mapping image path to its group.")
        ] = None,
        out_dir: Annotated[
            Path | None, typer.Option("--out", help="Write table.md, table.csv, chart and grids.")
        ] = None,
        per_class: Annotated[bool, typer.Option(help="Show the per-class breakdown.")] = False,
        folds: Annotated[
            int | None,
            typer.Option(
                min=2,
                help="--model metric: train one head per part on the other parts' labels "
                "and query with that part's images only.",
            ),
        ] = None,
        rerank: Annotated[
            bool, typer.Option(help="Also score each configuration re-ranked (query expansion).")
        ] = False,
        precisions: Annotated[
            str, typer.Option("--precision", help="EfficientNet: fp32,int8 (comma-separated).")
        ] = "fp32",
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help=QUIET_HELP)] = False,
    ) -> None:
        """Measure retrieval quality: every image queries all the others."""
        set_quiet(quiet)
        from lookalike.collection import Collection
        from lookalike.evaluation.grid import (
            METRIC_NAMES,
            run_grid,
        )
        from lookalike.training.labels import read_groups

        mapping = read_groups(groups) if groups else None
        with Collection.open(folder) as col, index_progress(enabled=not as_json) as tick:
            rows = run_grid(
                col,
                models=_split(models),
                poolings=_split(poolings),
                metrics=_split(metrics),
                indexes=_split(indexes),
                k=k,
                groups=mapping,
                folds=folds,
                rerank=rerank,
                precisions=_split(precisions),
                progress=tick,
            )
        if as_json:
            if out_dir:
                _write_outputs(rows, Path(folder), out_dir, quiet=True)
            print(json.dumps([r.to_dict() for r in rows], indent=2))
            return
        names = [n.format(k=k) for n in METRIC_NAMES]
        table = Table(
            title=f"retrieval quality on {folder} (mean [95% interval])", title_justify="left"
        )
        for col_name in ("model", "embedding", "metric", "index", "queries", *names):
            table.add_column(col_name, justify="left" if col_name == "model" else "right")
        for r in rows:
            s = r.evaluation.summary
            table.add_row(
                r.config.model,
                r.config.pooling or "-",
                r.config.metric,
                r.config.index,
                f"{r.evaluation.queries:,}",
                *[f"{s[n].mean:.3f} [{s[n].low:.3f}, {s[n].high:.3f}]" for n in names],
            )
        out.print(table)
        if per_class:
            for r in rows:
                out.print(f"\n[bold]{r.config.label}[/] per class:", highlight=False)
                for label, vals in r.evaluation.per_class.items():
                    shown = "  ".join(f"{n} {vals[n]:.3f}" for n in names)
                    out.print(f"  {label:<20} {shown}", highlight=False)
        if out_dir:
            _write_outputs(rows, Path(folder), out_dir, quiet=False)

    datasets = typer.Typer(help="Labelled collections for evaluation.", no_args_is_help=True)
    app.add_typer(datasets, name="datasets")

    @datasets.command("list")
    def datasets_list() -> None:
        """The collections ``datasets fetch`` can write."""
        from lookalike.datasets import list_datasets

        table = Table()
        for name in ("name", "what", "from"):
            table.add_column(name)
        for d in list_datasets():
            table.add_row(d.name, d.description, d.source)
        out.print(table)

    @datasets.command("fetch")
    def datasets_fetch(
        name: Annotated[str, typer.Argument(help="See: lookalike datasets list")],
        folder: Annotated[Path, typer.Argument(help="Where to write CLASS/IMAGE files.")],
        max_per_class: Annotated[
            int | None, typer.Option(help="Keep at most this many images a class.")
        ] = None,
        split: Annotated[str, typer.Option(help="Fashion-MNIST: t10k or train.")] = "t10k",
    ) -> None:
        """Write a labelled collection as FOLDER/<class>/<image>."""
        from lookalike.datasets import fetch_dataset

        got = fetch_dataset(name, folder, max_per_class=max_per_class, split=split)
        out.print(
            f"{got.images:,} images in {got.classes:,} classes in {got.root}", highlight=False
        )
