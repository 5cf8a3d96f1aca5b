"""``lookalike evaluate-clusters DIR``: clusters against hand-sorted classes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lookalike.cli.console import QUIET_HELP, index_progress, out, set_quiet


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command("evaluate-clusters")
    def evaluate_clusters_cmd(
        folder: Annotated[
            Path, typer.Argument(help="Indexed, labelled collection: class = sub-folder.")
        ],
        algos: Annotated[
            str, typer.Option("--algo", help="Comma-separated: kmeans,graph,hdbscan.")
        ] = "kmeans,graph,hdbscan",
        k: Annotated[
            int | None,
            typer.Option("--k", min=1, help="k-means' given k (default: the number of classes)."),
        ] = None,
        groups: Annotated[
            Path | None, typer.Option(help="JSON or CSV mapping image path to its group.")
        ] = None,
        model: Annotated[str | None, typer.Option("--model", "-m")] = None,
        pooling: Annotated[str | None, typer.Option()] = None,
        seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
        out_dir: Annotated[
            Path | None, typer.Option("--out", help="Write table.md and table.json here.")
        ] = None,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help=QUIET_HELP)] = False,
    ) -> None:
        """Measure clusters against the classes: ARI, NMI, purity, number of clusters."""
        set_quiet(quiet)
        from lookalike.collection import Collection
        from lookalike.evaluation.clusters import evaluate_clusters
        from lookalike.store import write_bytes_atomic
        from lookalike.training.labels import read_groups

        mapping = read_groups(groups) if groups else None
        with Collection.open(folder) as col, index_progress(enabled=not as_json) as tick:
            result = evaluate_clusters(
                col,
                algos=[a.strip() for a in algos.split(",") if a.strip()],
                k=k,
                groups=mapping,
                model=model,
                pooling=pooling,
                seed=seed,
                progress=tick,
            )
        if out_dir:
            out_dir.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(out_dir / "table.md", result.to_markdown().encode())
            write_bytes_atomic(out_dir / "table.json", result.to_json().encode())
        if as_json:
            print(result.to_json())
            return
        table = Table(
            title=f"clusters of {result.images:,} images in {result.classes:,} classes "
            f"({result.vector_set})",
            title_justify="left",
        )
        for name in ("algorithm", "k", "clusters", "ARI", "NMI", "purity", "largest/class", "s"):
            table.add_column(name, justify="left" if name in ("algorithm", "k") else "right")
        for r in result.rows:
            table.add_row(
                r.algo,
                r.k,
                f"{r.clusters:,}" + (f" +{r.outliers:,} outliers" if r.outliers else ""),
                f"{r.ari:.3f}",
                f"{r.nmi:.3f}",
                f"{r.purity:.3f}",
                f"{r.largest:.2f}",
                f"{r.seconds:.1f}",
            )
        out.print(table)
        if out_dir:
            out.print(f"wrote table.md and table.json to {out_dir}", highlight=False)
