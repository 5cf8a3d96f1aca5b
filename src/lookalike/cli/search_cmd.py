"""``lookalike search QUERY``: the images of a collection most like the query."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lookalike.cli.console import out
from lookalike.config import DEFAULT_K, DEFAULT_METRIC
from lookalike.results import SearchResult


def result_json(result: SearchResult) -> str:
    """The result as JSON, paths absolute."""
    return json.dumps(result.to_dict(), indent=2)


def print_table(result: SearchResult, root: Path) -> None:
    """Ranked results as a table, paths relative to the collection."""
    pooling = f", {result.pooling} pooling" if result.pooling else ""
    pooling += ", int8" if "-int8" in result.vector_set else ""
    better = "higher is closer" if result.metric == "cosine" else "lower is closer"
    recall = (
        f" · recall@{len(result.matches)} {result.recall:.2f}" if result.recall is not None else ""
    )
    table = Table(
        title=f"{result.encoder}{pooling} · {result.metric} ({better}) · {result.index}"
        f"{' + re-ranked' if result.rerank else ''} · "
        f"{len(result.matches)} of {result.searched:,} images · "
        f"{result.seconds * 1000:.0f} ms{recall}",
        title_justify="left",
    )
    table.add_column("rank", justify="right")
    table.add_column("score", justify="right")
    table.add_column("path")
    for m in result.matches:
        try:
            shown = str(m.path.relative_to(root))
        except ValueError:
            shown = str(m.path)
        table.add_row(str(m.rank), f"{m.score:.4f}", shown)
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command("search")
    def search(
        query: Annotated[str, typer.Argument(help="Query image (in the collection or not).")],
        folder: Annotated[
            str, typer.Option("--in", help="The indexed collection to search (or URL, with --db).")
        ] = ".",
        k: Annotated[int, typer.Option("-k", "--k", min=1, help="How many results.")] = DEFAULT_K,
        metric: Annotated[
            str, typer.Option(help="cosine (similarity) or euclidean (distance).")
        ] = DEFAULT_METRIC,
        model: Annotated[
            str | None, typer.Option("--model", "-m", help="Vectors of this encoder.")
        ] = None,
        pooling: Annotated[str | None, typer.Option(help="Vectors of this pooling.")] = None,
        precision: Annotated[
            str | None, typer.Option(help="Vectors of this precision (fp32 or int8).")
        ] = None,
        include_self: Annotated[
            bool, typer.Option(help="Keep the query file itself in its results.")
        ] = False,
        check_recall: Annotated[
            bool, typer.Option(help="Also run exact search; report the share of it found.")
        ] = False,
        rerank: Annotated[
            bool,
            typer.Option(help="Re-rank: search again with the query joined by its 3 best matches."),
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
        grid: Annotated[
            Path | None, typer.Option(help="Write a picture of query and results (PNG).")
        ] = None,
        html: Annotated[
            Path | None, typer.Option(help="Write an HTML page of the results.")
        ] = None,
        db: Annotated[Path | None, typer.Option(help="Database folder.")] = None,
    ) -> None:
        """Find the images most similar to QUERY."""
        from lookalike.collection import Collection
        from lookalike.imageio.remote import location
        from lookalike.render import save_grid, save_html

        if metric not in ("cosine", "euclidean"):
            raise typer.BadParameter("use cosine or euclidean", param_hint="--metric")
        with Collection.open(folder, db=db) as col:
            result = col.search(
                query,
                k=k,
                metric=metric,
                model=model,
                pooling=pooling,
                include_self=include_self,
                check_recall=check_recall,
                rerank=rerank,
                precision=precision,
            )
            if as_json:
                print(result_json(result))
            else:
                print_table(result, col.root)
            shown = location(query)
            if grid:
                out.print(f"grid: {save_grid(shown, result, grid)}", highlight=False)
            if html:
                out.print(f"html: {save_html(shown, result, html)}", highlight=False)
