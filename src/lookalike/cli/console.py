"""Shared terminal output: consoles, progress bars, and number formatting."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from lookalike.results import Progress as ProgressTick

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class RateColumn(ProgressColumn):
    """Items per second, from Rich's own speed estimate, in the task's unit."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        unit = task.fields.get("unit", "img")
        text = f"{speed:,.0f} {unit}/s" if speed else f"… {unit}/s"
        return Text(text, style="progress.data.speed")


_PHASES = {
    "scan": "Scanning",
    "embed": "Embedding",
    "compact": "Saving",
    "index": "Indexing",
    "neighbours": "Neighbours",
    "group": "Grouping",
    "pixels": "Small pictures",
    "fingerprints": "Thumbnails",
    "verify": "Verifying",
    "choosing k": "Choosing k",
    "clusters": "Clustering",
    "folds": "Folds",
}

#: What a phase counts, where it is not images.
_UNITS = {"verify": "pairs", "folds": "folds", "choosing k": "steps", "clusters": "steps"}

_quiet = False


def set_quiet(quiet: bool) -> None:
    """``--quiet``: no progress bars for the rest of the command."""
    global _quiet
    _quiet = quiet


def is_quiet() -> bool:
    """Whether ``--quiet`` was given."""
    return _quiet


#: The ``--quiet`` option every long-running command takes.
QUIET_HELP = "No progress bars."


@contextmanager
def index_progress(enabled: bool = True) -> Iterator[callable]:  # type: ignore[valid-type]
    """A callback for ``Collection.index(progress=...)`` that draws Rich progress bars."""
    columns = (
        TextColumn("[bold]{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, disable=not enabled or _quiet, transient=False) as bar:
        tasks: dict[str, TaskID] = {}

        def tick(p: ProgressTick) -> None:
            task = tasks.get(p.phase)
            if task is None:
                name, unit = _PHASES.get(p.phase, p.phase), _UNITS.get(p.phase, "img")
                task = tasks[p.phase] = bar.add_task(name, total=p.total, unit=unit)
            bar.update(task, completed=p.done, total=p.total)

        yield tick


def counted(n: int, noun: str) -> str:
    """``n`` and its noun, singular for one: "1 group", "2,048 groups"."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"
