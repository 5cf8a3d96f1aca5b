"""``lookalike index DIR``: embed a folder's images, incrementally."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from lookalike.cli.console import err, index_progress, out
from lookalike.collection import Collection
from lookalike.config import DEFAULT_ENCODER
from lookalike.encoders import create_encoder
from lookalike.results import IndexReport

SHOW_SKIPPED = 15


def print_report(report: IndexReport) -> None:
    """Summary lines of an index run, skipped files with reasons."""
    rate = f" ({report.images_per_second:,.1f} images/s)" if report.indexed else ""
    out.print(
        f"[bold green]Indexed[/] {report.indexed:,} images in {report.seconds:,.1f} s{rate} "
        f"with {report.encoder}" + (f" ({report.pooling} pooling)" if report.pooling else ""),
        highlight=False,
    )
    out.print(
        f"  {report.unchanged:,} unchanged, {report.removed:,} removed, "
        f"{len(report.skipped):,} skipped",
        highlight=False,
    )
    for s in report.skipped[:SHOW_SKIPPED]:
        out.print(f"  [yellow]skipped[/] {s.path}: {s.reason}", highlight=False)
    if len(report.skipped) > SHOW_SKIPPED:
        more = len(report.skipped) - SHOW_SKIPPED
        out.print(f"  … and {more:,} more (lookalike info {report.root})", highlight=False)
    if report.interrupted:
        out.print("[yellow]stopped early[/]; run the same command to resume", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command("index")
    def index(
        folder: Annotated[Path, typer.Argument(help="Folder of images (searched recursively).")],
        model: Annotated[
            str, typer.Option("--model", "-m", help="Encoder name.")
        ] = DEFAULT_ENCODER,
        pooling: Annotated[
            str | None, typer.Option(help="Feature-map pooling: avg, max or flatten.")
        ] = None,
        image_size: Annotated[
            int | None, typer.Option(help="Input size in pixels (the encoder's own by default).")
        ] = None,
        batch_size: Annotated[int, typer.Option(min=1, help="Images per encoder batch.")] = 32,
        workers: Annotated[
            int | None, typer.Option(min=0, help="Parallel workers (default: one per core).")
        ] = None,
        db: Annotated[
            Path | None, typer.Option(help="Database folder (default: FOLDER/.lookalike).")
        ] = None,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    ) -> None:
        """Index a folder: embed new and changed images, drop deleted ones."""
        col = Collection.open(folder, db=db)
        opts: dict[str, Any] = {}
        if pooling:
            opts["pooling"] = pooling
        if image_size:
            opts["image_size"] = image_size
        if not quiet:
            err.print(f"Loading encoder {model}…", highlight=False)
        encoder = create_encoder(model, **opts)
        with col, index_progress(enabled=not quiet) as tick:
            report = col.index(encoder, batch_size=batch_size, workers=workers, progress=tick)
        print_report(report)
