"""``lookalike demo``: build the sample collection, index it and show a search."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lookalike.cli.console import err, index_progress, out


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command("demo")
    def demo(
        out_dir: Annotated[
            Path, typer.Option("--out", help="Where to write the sample collection.")
        ] = Path("demo"),
        model: Annotated[str, typer.Option("--model", "-m", help="Encoder name.")] = (
            "efficientnet-lite0"
        ),
    ) -> None:
        """Build a sample collection from scikit-image's photos, index it, search it."""
        from lookalike.cli.index_cmd import print_report
        from lookalike.cli.search_cmd import print_table
        from lookalike.collection import Collection
        from lookalike.datasets import build_sample
        from lookalike.render import save_grid

        photos = out_dir / "photos"
        sample = build_sample(photos)
        out.print(
            f"Sample collection: {sample.files} images of {len(sample.photos)} photos in {photos}",
            highlight=False,
        )
        with Collection.open(photos) as col:
            err.print(f"Loading encoder {model}…", highlight=False)
            with index_progress() as tick:
                report = col.index(model=model, progress=tick)
            print_report(report)
            query = photos / sample.photos[min(3, len(sample.photos) - 1)] / "original.jpg"
            result = col.search(query, k=8)
            out.print(f"\nImages most like [bold]{query}[/]:", highlight=False)
            print_table(result, col.root)
            grid = save_grid(query, result, out_dir / "search.png")
            out.print(f"Picture of the results: {grid}", highlight=False)
            out.print(
                f"Try: lookalike search {photos / sample.photos[0] / 'mirror.jpg'} --in {photos}",
                highlight=False,
            )
