"""Safe actions on groups: move or link the members not kept, dry-run unless applied,
every step written to a journal first so that ``undo`` can put everything back."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from lookalike.errors import LookalikeError
from lookalike.grouping.reports import DuplicateReport
from lookalike.imageio.remote import is_remote


@dataclass(frozen=True)
class Action:
    """Move ``src`` to ``dst``, or make ``dst`` a symbolic link to ``src``."""

    op: str  # "move" or "link"
    src: str
    dst: str
    keep: str = ""  # the member kept in its place
    policy: str = ""  # the keep policy that chose it


def plan(
    report: DuplicateReport,
    *,
    move_to: Path | None = None,
    link_to: Path | None = None,
    tiers: tuple[str, ...] = ("exact", "near"),
) -> list[Action]:
    """The actions for every member not kept in the chosen tiers (relative paths kept)."""
    if (move_to is None) == (link_to is None):
        raise LookalikeError("give exactly one of move_to or link_to")
    if is_remote(report.root):
        raise LookalikeError(
            f"{report.root} is not on this machine: lookalike moves or links files only in a "
            "local folder (use --json or --csv for the list, and your storage's own tools)"
        )
    target = Path(move_to or link_to).expanduser().resolve()  # type: ignore[arg-type]
    if target == report.root or report.root in target.parents:
        raise LookalikeError(f"{target} is inside the collection; choose a folder outside it")
    op = "move" if move_to else "link"
    seen: set[Path] = set()
    actions = []
    for group in report.groups:
        if group.tier not in tiers:
            continue
        for m in group.members:
            if m.keep or m.path in seen:
                continue
            seen.add(m.path)
            rel = m.path.relative_to(report.root)
            actions.append(
                Action(op, str(m.path), str(target / rel), str(group.keep.path), report.keep_policy)
            )
    return actions


def journal_dir(db: Path) -> Path:
    """Where a collection's action journals live."""
    return Path(db) / "journal"


def apply(actions: list[Action], db: Path) -> Path:
    """Carry the actions out; each is journalled (and synced) before it happens."""
    folder = journal_dir(db)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.jsonl"
    with open(path, "a", encoding="utf-8") as journal:
        for a in actions:
            src, dst = Path(a.src), Path(a.dst)
            if dst.exists() or dst.is_symlink():
                raise LookalikeError(f"{dst} already exists; nothing overwritten")
            journal.write(json.dumps(asdict(a)) + "\n")
            journal.flush()
            os.fsync(journal.fileno())
            dst.parent.mkdir(parents=True, exist_ok=True)
            if a.op == "move":
                shutil.move(str(src), str(dst))
            else:
                dst.symlink_to(src)
    return path


def undo(db: Path) -> tuple[Path | None, list[Action]]:
    """Reverse the latest journal not yet undone, last action first."""
    folder = journal_dir(db)
    journals = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    if not journals:
        return None, []
    path = journals[-1]
    actions = [Action(**json.loads(line)) for line in path.read_text().splitlines() if line]
    undone = []
    for a in reversed(actions):
        src, dst = Path(a.src), Path(a.dst)
        if a.op == "move" and dst.exists() and not src.exists():
            src.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(dst), str(src))
            undone.append(a)
        elif a.op == "link" and dst.is_symlink():
            dst.unlink()
            undone.append(a)
    path.rename(path.with_suffix(".undone"))
    return path, undone
