"""``lookalike undo`` and ``lookalike not-duplicates``: taking back an applied action, and
telling grouping that some images are different pictures."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from lookalike.cli.console import out


def register(app: typer.Typer) -> None:
    """Add the commands to the app."""

    @app.command("undo")
    def undo_cmd(
        folder: Annotated[Path, typer.Argument(help="The collection.")] = Path("."),
        db: Annotated[Path | None, typer.Option(help="Database folder.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Undo the latest --apply of group: move files back, remove links."""
        from lookalike.collection import Collection
        from lookalike.grouping import undo

        col = Collection.open(folder, db=db)
        journal, undone = undo(col.db)
        if as_json:
            print(
                json.dumps(
                    {
                        "journal": str(journal) if journal else None,
                        "undone": [asdict(a) for a in undone],
                    },
                    indent=2,
                )
            )
            return
        if journal is None:
            out.print("nothing to undo", highlight=False)
            return
        out.print(f"undid {len(undone)} actions of {journal.name}", highlight=False)

    @app.command("not-duplicates")
    def not_duplicates(
        folder: Annotated[Path, typer.Argument(help="The collection.")],
        paths: Annotated[list[Path], typer.Argument(help="Two or more images of it.")],
        db: Annotated[Path | None, typer.Option(help="Database folder.")] = None,
    ) -> None:
        """Remember that these images are not duplicates; grouping will keep them apart."""
        from lookalike.collection import Collection
        from lookalike.grouping import mark_not_duplicates

        if len(paths) < 2:
            raise typer.BadParameter("name at least two images", param_hint="PATHS")
        with Collection.open(folder, db=db) as col:
            n = mark_not_duplicates(col, list(paths))
        out.print(f"recorded {n} pairs as not duplicates", highlight=False)
