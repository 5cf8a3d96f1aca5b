"""``lookalike index DIR``: embed a folder's images, incrementally."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from lookalike.cli.console import counted, err, index_progress, out
from lookalike.config import DEFAULT_ENCODER
from lookalike.config import MILVUS_TOKEN_ENV as TOKEN_ENV
from lookalike.results import IndexReport

if TYPE_CHECKING:
    from lookalike.engines import Engine

SHOW_SKIPPED = 15


def print_report(report: IndexReport) -> None:
    """Summary lines of an index run, skipped files with reasons."""
    rate = f" ({report.images_per_second:,.1f} images/s)" if report.indexed else ""
    out.print(
        f"[bold green]Indexed[/] {counted(report.indexed, 'image')} "
        f"in {report.seconds:,.1f} s{rate} "
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
    if report.index:
        ix = report.index
        mem = ix.memory_bytes / 2**20
        out.print(
            f"  search index: {escape(ix.describe())} · {mem:,.1f} MiB · "
            f"recall@10 {ix.recall_at_10:.3f}",
            highlight=False,
        )
    if report.interrupted:
        out.print("[yellow]stopped early[/]; run the same command to resume", highlight=False)


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """KEY=VALUE pairs; values are read as JSON where they parse (numbers, true)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--index-opt")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


def index_choice(
    kind: str | None, pairs: list[str], backend: str, uri: str | None, token: str | None
) -> tuple[str | None, dict[str, Any] | None]:
    """The ``index``/``index_options`` arguments of ``Collection.index`` from CLI flags."""
    from lookalike.index.milvus import milvus_options

    options = parse_options(pairs)
    if kind == "milvus" and backend == "faiss":
        raise typer.BadParameter(
            "Milvus is a backend: use --backend milvus --uri FILE.db (Milvus Lite) or "
            "--uri http://host:19530, with --index hnsw|ivf|ivfpq|exact",
            param_hint="--index",
        )
    if backend == "faiss":
        if uri:
            raise typer.BadParameter("--uri goes with --backend milvus", param_hint="--uri")
        return kind, options or None
    if backend != "milvus":
        raise typer.BadParameter("use faiss or milvus", param_hint="--backend")
    if not uri:
        raise typer.BadParameter("--backend milvus needs --uri", param_hint="--uri")
    if token:
        os.environ[TOKEN_ENV] = token
    return "milvus", milvus_options(kind, uri, options)


@contextlib.contextmanager
def runner_closed(engine: Engine) -> Iterator[Engine]:
    """The engine, released (a local Ray it started stopped) when the run ends."""
    try:
        yield engine
    finally:
        engine.close()


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command("index")
    def index(
        folder: Annotated[
            str,
            typer.Argument(
                help="Folder of images (searched recursively), or an fsspec URL "
                "(s3://bucket/photos, file:///data) with --db."
            ),
        ],
        model: Annotated[
            str, typer.Option("--model", "-m", help="Encoder name.")
        ] = DEFAULT_ENCODER,
        precision: Annotated[
            str,
            typer.Option(
                help="EfficientNet: fp32, or int8 (statically quantised; about 2x faster, "
                "its own vector set)."
            ),
        ] = "fp32",
        pooling: Annotated[
            str | None,
            typer.Option(
                help="Embedding method: multi (default: three depths of the network), "
                "avg, max, flatten, or layout (two depths on a 3x3 grid: what metric heads "
                "learn from). The autoencoders: flatten, max, avg."
            ),
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
        index: Annotated[
            str | None,
            typer.Option(
                "--index", help="Search index: auto, exact, hnsw, ivf, ivfpq or lsh (kept)."
            ),
        ] = None,
        index_opt: Annotated[
            list[str] | None,
            typer.Option("--index-opt", help="Index setting KEY=VALUE, e.g. ef_search=128."),
        ] = None,
        backend: Annotated[
            str, typer.Option(help="faiss (embedded, default) or milvus.")
        ] = "faiss",
        uri: Annotated[
            str | None,
            typer.Option(help="Milvus: a file path (Milvus Lite) or http://host:19530."),
        ] = None,
        token: Annotated[
            str | None, typer.Option(help=f"Milvus token (or ${TOKEN_ENV}); never saved.")
        ] = None,
        engine: Annotated[
            str,
            typer.Option(
                help="Where images are decoded and encoded: local (threads) or ray "
                "(Ray Data; pip install 'lookalike[ray]')."
            ),
        ] = "local",
        ray_address: Annotated[
            str | None,
            typer.Option(
                help="--engine ray: join this Ray cluster (auto, ray://host:10001); "
                "its workers must see FOLDER at the same path. Default: a local Ray."
            ),
        ] = None,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    ) -> None:
        """Index a folder: embed new and changed images, drop deleted ones."""
        from lookalike.collection import Collection
        from lookalike.encoders import resolve_encoder

        if ray_address and engine != "ray":
            raise typer.BadParameter("--ray-address goes with --engine ray", param_hint="--engine")
        from lookalike.engines import create_engine

        runner = create_engine(engine, **({"address": ray_address} if ray_address else {}))
        col = Collection.open(folder, db=db)
        opts: dict[str, Any] = {}
        if pooling:
            opts["pooling"] = pooling
        if precision != "fp32":
            opts["precision"] = precision
        if image_size:
            opts["image_size"] = image_size
        if not quiet:
            err.print(f"Loading encoder {model}…", highlight=False)
        encoder = resolve_encoder(model, col.db, **opts)
        kind, index_options = index_choice(index, index_opt or [], backend, uri, token)
        with col, runner_closed(runner), index_progress(enabled=not quiet) as tick:
            report = col.index(
                encoder,
                batch_size=batch_size,
                workers=workers,
                progress=tick,
                index=kind,
                index_options=index_options,
                engine=runner,
            )
        print_report(report)
