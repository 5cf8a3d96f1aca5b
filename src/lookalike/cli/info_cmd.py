"""``lookalike info DIR`` and ``lookalike encoders``: what is indexed, what can index."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from lookalike.cli.console import out


def register(app: typer.Typer) -> None:
    """Add the commands to the app."""

    @app.command("info")
    def info(
        folder: Annotated[str, typer.Argument(help="An indexed folder (or URL, with --db).")] = ".",
        db: Annotated[Path | None, typer.Option(help="Database folder.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """What is indexed, with which encoders, and which files were skipped and why."""
        from lookalike.collection import Collection
        from lookalike.grouping.measures import measures_version

        with Collection.open(folder, db=db) as col:
            info = col.info(measures_version=measures_version())
        if as_json:
            print(json.dumps(info.to_dict(), indent=2))
            return
        out.print(f"[bold]{info.root}[/]  (database: {info.db})", highlight=False)
        out.print(
            f"{info.files:,} files: {info.ok:,} images, {len(info.skipped):,} skipped",
            highlight=False,
        )
        table = Table(title="vector sets", title_justify="left")
        for col_name in ("encoder", "pooling", "size", "dim", "vectors", "index", "updated"):
            table.add_column(
                col_name,
                justify="left" if col_name in ("encoder", "index") else "right",
                no_wrap=col_name == "encoder",
            )
        details = []
        for s in info.vector_sets:
            when = datetime.fromtimestamp(s.updated_at).strftime("%Y-%m-%d %H:%M")
            st = s.index_stats
            kind = st.kind if st else s.index_kind
            if s.index_kind == "auto" and st:
                kind = f"{kind} (auto)"
            table.add_row(
                s.encoder + (" (default)" if s.default else ""),
                s.pooling or "-",
                str(s.image_size),
                str(s.dim),
                f"{s.count:,}",
                kind,
                when,
            )
            if st:
                details.append(
                    f"{s.encoder}/{s.pooling or '-'}: {st.describe()}"
                    + (" (chosen automatically)" if s.index_kind == "auto" else "")
                    + f", {st.memory_bytes / 2**20:,.1f} MiB in memory, "
                    f"estimated recall@10 {st.recall_at_10:.3f}"
                )
        out.print(table)
        for line in details:
            out.print(escape(line), highlight=False)
        if info.measures_kept:
            out.print(
                f"pixel measures of {info.measures_kept:,} pairs kept: a later grouping judges "
                "those pairs without measuring them again",
                highlight=False,
            )
        for s in info.skipped:
            out.print(f"[yellow]skipped[/] {s.path}: {s.reason}", highlight=False)

    @app.command("encoders")
    def encoders(
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """List the registered encoders."""
        from lookalike.encoders import list_encoders

        if as_json:
            found = [
                {"name": e.name, "description": e.description, "default": e.default}
                for e in list_encoders()
            ]
            print(json.dumps(found, indent=2))
            return
        table = Table(title="encoders", title_justify="left")
        table.add_column("name")
        table.add_column("description")
        for e in list_encoders():
            table.add_row(e.name + (" (default)" if e.default else ""), e.description)
        out.print(table)
