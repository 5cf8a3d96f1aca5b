"""Which image a group keeps: the source picture by default, or a policy the user names."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imagegen import scene
from lookalike import Collection
from lookalike.datasets.alterations import ALTERATIONS
from lookalike.errors import InvalidOptionError
from lookalike.grouping import apply, find_duplicates, plan
from lookalike.grouping.keep import Candidate, choose_keep, detail

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
        Candidate(paths[0], 100, 100, 500, "JPEG"),
        Candidate(paths[1], 400, 300, 900, "JPEG"),
        Candidate(paths[2], 400, 300, 800, "PNG"),
    ]


#: Closeness of the three candidates above (higher is closer).
CLOSE = np.array([[0.0, 0.5, 0.9], [0.5, 0.0, 0.8], [0.9, 0.8, 0.0]])


def test_policies(tmp_path: Path) -> None:
    c = _cands(tmp_path)
    # most pixels (two tie, and two are always equally close), then the earlier file time
    assert choose_keep(c, closeness=CLOSE) == (1, "as many pixels as any, the earlier file time")
    assert choose_keep(c, "largest")[0] == 1  # most pixels, then the larger file
    assert choose_keep(c, "newest")[0] == 2 and choose_keep(c, "oldest")[0] == 0
    assert choose_keep(c, "path:*/small.jpg")[0] == 0
    assert choose_keep(c, "path:*/nothing/*", CLOSE)[0] == 1  # no match: the original rule
    with pytest.raises(InvalidOptionError, match="--keep"):
        choose_keep(c, "prettiest")


def test_the_closest_member_among_the_largest(tmp_path: Path) -> None:
    """Only members that tie on pixels vote: a downscaled copy close to two others does
    not make one of them the original."""
    c = [Candidate(tmp_path / f"{k}.png", 400, 300, 900, "PNG") for k in range(3)]
    c.append(Candidate(tmp_path / "small.png", 100, 75, 300, "PNG"))
    close = np.array(
        [[0, 0.7, 0.7, 0.0], [0.7, 0, 0.2, 0.9], [0.7, 0.2, 0, 0.9], [0.0, 0.9, 0.9, 0]]
    )
    assert choose_keep(c, closeness=close) == (
        0,
        "as many pixels as any, the closest to the others",
    )


def test_a_bordered_copy_does_not_win_on_pixels(tmp_path: Path) -> None:
    """Letterbox bars add pixels but no picture: content pixels decide."""
    c = _cands(tmp_path)
    bordered = Candidate(c[1].path, 400, 360, 950, "JPEG", content=300 / 360)
    assert choose_keep([c[2], bordered])[0] == 0
    # the same bars on a tiny picture: pixel counts within 20% tie, then no added border
    small = Candidate(c[2].path, 40, 40, 800, "PNG")
    barred = Candidate(c[1].path, 40, 46, 950, "PNG", content=40 / 46)
    assert choose_keep([barred, small], closeness=np.zeros((2, 2))) == (1, ANY_REASON)


def test_letterbox_bars_around_a_drawing_on_a_plain_ground_add_no_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bars are trimmed, and so is the drawing's own plain ground inside them: the
    letterboxed copy has no more content pixels than its original (within the tie), where
    trimming the bars alone left it the whole drawing against the original's shapes. As
    a JPEG too, whose ringing along the bars' edge hid the ground inside them from the
    trim until it looked past that edge."""
    from lookalike.grouping import verifier
    from lookalike.grouping.keep import PIXEL_TIE
    from lookalike.grouping.verifier import content_share
    from lookalike.grouping.verify import fingerprint

    drawing = Image.new("RGB", (320, 240), (78, 240, 178))
    drawing.paste(scene("shapes", 3).resize((180, 100)), (70, 90))
    barred = ALTERATIONS["border"](drawing)
    for suffix in ("png", "jpg"):
        pixels = {}
        for name, im in (("drawing", drawing), ("barred", barred)):
            im.save(tmp_path / f"{name}.{suffix}", quality=85)
            fp = fingerprint(tmp_path / f"{name}.{suffix}")
            pixels[name] = content_share(fp) * im.width * im.height
            inner = fp.box[2] * fp.box[3] / (fp.pixels.shape[0] * fp.pixels.shape[1])
            if name == "barred":  # the bars alone leave the plain ground counted
                assert inner * im.width * im.height > (1 + PIXEL_TIE) * pixels["drawing"]
        assert abs(pixels["barred"] - pixels["drawing"]) <= PIXEL_TIE * pixels["drawing"]
    # the premise: trimmed right along the bars' edge, the JPEG's ground stays counted
    monkeypatch.setattr(verifier, "RING", 0)
    ringed = content_share(fingerprint(tmp_path / "barred.jpg")) * barred.width * barred.height
    assert ringed > (1 + PIXEL_TIE) * pixels["drawing"]


class _Any:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and "no added border" in other


ANY_REASON = _Any()


def test_a_watermark_on_a_plain_ground_adds_no_content(tmp_path: Path) -> None:
    """A drawing on a plain ground: its share of content is the box around its shapes, and
    a watermark on the ground widens that box. Copies of one size in the same framing show
    one picture, so they share the largest of their shares, and the original is kept (it
    was the watermarked copy, "the most pixels", before)."""
    from lookalike.grouping.verifier import content_share
    from lookalike.grouping.verify import fingerprint

    root = tmp_path / "drawing"
    root.mkdir()
    drawing = Image.new("RGB", (480, 360), (70, 90, 120))
    drawing.paste(scene("shapes", 3).resize((300, 200)), (150, 30))
    for name in ("watermark", "noise", "brighter", "jpeg-q30"):
        ALTERATIONS[name](drawing).save(root / f"a-{name}.png")
    drawing.save(root / "z-original.png")
    shares = {f.name: content_share(fingerprint(f)) for f in root.iterdir()}
    assert shares["a-watermark.png"] > 1.2 * shares["z-original.png"]  # the premise
    with Collection.open(root) as col:
        col.index(workers=1)
        report = find_duplicates(col)
    group = _group_of(report, "z-original.png")
    assert {m.path.name for m in group.members} >= {"a-watermark.png", "a-noise.png"}
    assert group.keep.path.name == "z-original.png", group.keep_reason


def test_a_lossy_copy_of_a_small_picture_is_not_kept(tmp_path: Path) -> None:
    """A 28-px picture and its JPEG quality-30 copy stored as PNG of the same size: the
    copy has lost the detail a strong re-encode removes, so it is not kept even where
    it sits closer to the other copies."""
    item = scene("shapes", 6).resize((28, 28), Image.Resampling.LANCZOS)
    jpeg = ALTERATIONS["jpeg-q30"](item)
    brighter = ALTERATIONS["brighter"](item)
    arrays = {"jpeg": jpeg, "brighter": brighter, "original": item}
    assert detail(np.asarray(jpeg)) < 0.4 * detail(np.asarray(item))
    c = [
        Candidate(tmp_path / f"{n}.png", 28, 28, 900 + k, "PNG", detail=detail(np.asarray(a)))
        for k, (n, a) in enumerate(arrays.items())
    ]
    close = np.array([[0, 0.9, 0.1], [0.9, 0, 0.1], [0.1, 0.1, 0]])
    keep, why = choose_keep(c, closeness=close)
    assert keep == 2 and "not a lossy copy" not in why  # the brighter copy stays in the running
    assert choose_keep(c[:1] + c[2:], closeness=close[[0, 2]][:, [0, 2]]) == (
        1,
        "as many pixels as any, not a lossy copy",
    )


def test_the_journal_records_the_policy(family: Path, tmp_path: Path) -> None:
    with Collection.open(family) as col:
        report = find_duplicates(col, keep="largest")
        db = col.db
    actions = plan(report, move_to=tmp_path / "review")
    journal = apply(actions, db)
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert lines and all(r["policy"] == "largest" and r["keep"] for r in lines)
