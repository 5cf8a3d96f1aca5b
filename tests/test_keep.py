"""Which image a group keeps: the source picture by default, or a policy the user names."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from imagegen import scene
from lookalike import Collection
from lookalike.datasets.alterations import ALTERATIONS
from lookalike.errors import InvalidOptionError
from lookalike.grouping import apply, find_duplicates, plan
from lookalike.grouping.keep import Candidate, choose_keep

COPIES = ("watermark", "mirror", "rotate-5", "brighter", "half-size", "border")


@pytest.fixture
def family(tmp_path: Path) -> Path:
    """One photo-like picture and its copies, the copies written first (so file order and
    file times favour them), each a JPEG of the same quality."""
    root = tmp_path / "family"
    root.mkdir()
    original = scene("noise", 6).resize((480, 360), Image.Resampling.BICUBIC)
    for name in COPIES:
        ALTERATIONS[name](original).save(root / f"a-{name}.jpg", quality=92)
    ALTERATIONS["jpeg-q30"](original).save(root / "a-reencoded.jpg", quality=92)
    original.save(root / "z-original.jpg", quality=92)
    old = 1_600_000_000
    for k, f in enumerate(sorted(root.iterdir())):
        os.utime(f, (old + k, old + k))
    with Collection.open(root) as col:
        col.index(workers=1)
    return root


def _group_of(report, name: str):  # type: ignore[no-untyped-def]
    return next(g for g in report.tier("near") if any(m.path.name == name for m in g.members))


def test_the_original_is_kept(family: Path) -> None:
    with Collection.open(family) as col:
        report = find_duplicates(col)
    group = _group_of(report, "z-original.jpg")
    names = {m.path.name for m in group.members}
    assert {"a-mirror.jpg", "a-brighter.jpg", "a-reencoded.jpg", "a-border.jpg"} <= names
    assert group.keep.path.name == "z-original.jpg", group.keep_reason
    assert group.keep_reason and report.keep_policy == "original"


def _cands(tmp_path: Path) -> list[Candidate]:
    paths = []
    for k, name in enumerate(("small.jpg", "big.jpg", "originals/mid.jpg")):
        p = tmp_path / name
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"x" * (100 + k))
        os.utime(p, (1_600_000_000 + 10 * k, 1_600_000_000 + 10 * k))
        paths.append(p)
    return [
        Candidate(paths[0], 100, 100, 500, "JPEG", connectivity=2.0),
        Candidate(paths[1], 400, 300, 900, "JPEG", connectivity=1.0),
        Candidate(paths[2], 400, 300, 800, "PNG", connectivity=1.5),
    ]


def test_policies(tmp_path: Path) -> None:
    c = _cands(tmp_path)
    assert choose_keep(c)[0] == 2  # most pixels (a tie), then the best connected
    assert choose_keep(c, "largest")[0] == 1  # most pixels, then the larger file
    assert choose_keep(c, "newest")[0] == 2 and choose_keep(c, "oldest")[0] == 0
    assert choose_keep(c, "path:*/small.jpg")[0] == 0
    assert choose_keep(c, "path:*/nothing/*")[0] == 2  # no match: the original rule
    with pytest.raises(InvalidOptionError, match="--keep"):
        choose_keep(c, "prettiest")


def test_a_bordered_copy_does_not_win_on_pixels(tmp_path: Path) -> None:
    """Letterbox bars add pixels but no picture: content pixels decide."""
    c = _cands(tmp_path)
    bordered = Candidate(c[1].path, 400, 360, 950, "JPEG", content=300 / 360, connectivity=0.5)
    assert choose_keep([c[2], bordered])[0] == 0


def test_the_journal_records_the_policy(family: Path, tmp_path: Path) -> None:
    with Collection.open(family) as col:
        report = find_duplicates(col, keep="largest")
        db = col.db
    actions = plan(report, move_to=tmp_path / "review")
    journal = apply(actions, db)
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert lines and all(r["policy"] == "largest" and r["keep"] for r in lines)
