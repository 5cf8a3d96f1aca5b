"""The pixel verifier of near-duplicate pairs: each signal on made pairs with a known
answer, explanations in the report, a vanished file, and the calibration set's split."""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from imagegen import scene, variant
from lookalike import Collection
from lookalike.cli.main import main
from lookalike.datasets.alterations import ALTERATIONS, blend_object, hue_shift
from lookalike.datasets.duplicate_set import BLENDS, Picture, build_duplicate_set, split_of
from lookalike.grouping import find_duplicates
from lookalike.grouping.verify import PairSignals, compare, fingerprint, judge_pair, signals_text
from lookalike.grouping.verify_fit import load_rules


def flag(seed: int = 0, size: tuple[int, int] = (360, 240)) -> Image.Image:
    """A tricolour with an emblem: a drawing that a recolouring turns into another flag."""
    rng = np.random.default_rng(seed)
    w, h = size
    im = Image.new("RGB", size)
    draw = ImageDraw.Draw(im)
    colours = [tuple(int(c) for c in rng.integers(0, 256, 3)) for _ in range(3)]
    colours[0] = (200, 30, 40)
    for k, c in enumerate(colours):
        draw.rectangle((0, k * h // 3, w, (k + 1) * h // 3), fill=c)
    draw.ellipse((w // 3, h // 4, 2 * w // 3, 3 * h // 4), fill=(240, 200, 40))
    tip, left, right = (w // 2, h // 3), (w // 2 - 30, 2 * h // 3), (w // 2 + 30, 2 * h // 3)
    draw.polygon([tip, left, right], fill=(30, 90, 160))
    return im


def _jpeg(im: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _grey_picture(g: np.ndarray) -> Image.Image:
    """An RGB picture of the grey levels ``g`` (clipped to 0 ... 255)."""
    return Image.fromarray(np.repeat(np.clip(g, 0, 255)[..., None], 3, axis=2).astype(np.uint8))


def _verdict(a: Image.Image, b: Image.Image, tmp: Path):  # type: ignore[no-untyped-def]
    pa, pb = tmp / "a.png", tmp / "b.png"
    a.save(pa)
    b.save(pb)
    return judge_pair(load_rules(), compare(fingerprint(pa), fingerprint(pb), 0.9))


def test_copies_pass(tmp_path: Path) -> None:
    original = flag()
    copies = [_jpeg(original, 30), ImageOps.mirror(original)]
    copies += [ALTERATIONS[k](original) for k in ("border", "resave-70", "brighter")]
    for copy in copies:
        v = _verdict(original, copy, tmp_path)
        assert v.same, v.reason


def test_a_recoloured_flag_is_another_flag(tmp_path: Path) -> None:
    v = _verdict(flag(), hue_shift(flag()), tmp_path)
    assert not v.same and "colour" in v.reason


def test_different_scenes_fail(tmp_path: Path) -> None:
    v = _verdict(scene("shapes", 1), scene("shapes", 2), tmp_path)
    assert not v.same and v.signals.difference > 0.2


def test_tiny_pictures(tmp_path: Path) -> None:
    """35-pixel pictures: a re-saved copy passes, another little picture fails."""
    small = scene("shapes", 7).resize((35, 35), Image.Resampling.LANCZOS)
    other = scene("shapes", 1).resize((35, 35), Image.Resampling.LANCZOS)
    copy = _verdict(small, _jpeg(small, 85), tmp_path)
    assert copy.signals.tiny and copy.same, copy.reason
    assert not _verdict(small, other, tmp_path).same


def test_crop_and_rotation_are_aligned(tmp_path: Path) -> None:
    original = scene("noise", 6)
    for name in ("crop-85", "aspect-crop", "rotate-5"):
        v = _verdict(original, ALTERATIONS[name](original), tmp_path)
        assert v.signals.aligned in ("features", "slid", "rotated"), (name, v.reason)


def test_crops_are_found_coarse_to_fine_where_the_full_search_finds_them(tmp_path: Path) -> None:
    """The slide matches on quarter-size greys, then on half-size ones and at full size near
    the best fits: an 85% crop is found with its true share of the whole, and two flat
    pictures (which fit anywhere on small greys, and nowhere near the place tried first at
    full size) still align, as a search of every place at full size aligns them."""
    from lookalike.grouping import verify

    original = scene("noise", 3).resize((400, 300))
    crop = original.crop((30, 20, 370, 275))  # 85%
    original.save(tmp_path / "a.png")
    crop.save(tmp_path / "b.png")
    fa, fb = fingerprint(tmp_path / "a.png"), fingerprint(tmp_path / "b.png")
    assert fa.pixels.dtype == np.uint8  # fingerprints keep bytes, not floats
    slid = verify._slide(fa, fb)
    assert slid is not None and slid[1] == "slid" and slid[0] < 0.1
    assert abs(slid[3] - (340 * 255) / (400 * 300)) < 0.02  # the crop's share of the whole
    Image.new("RGB", (300, 200), (90, 140, 60)).save(tmp_path / "c.png")
    Image.new("RGB", (200, 200), (90, 140, 60)).save(tmp_path / "d.png")
    flat = verify._slide(fingerprint(tmp_path / "c.png"), fingerprint(tmp_path / "d.png"))
    assert flat is not None and flat[0] < 0.05


def test_a_tilted_smooth_picture_is_turned_back(tmp_path: Path) -> None:
    """A smooth picture gives feature matching too little: a 5-degree rotation (corners
    filled from the edge, as a hand-straightened copy) is aligned by turning it back,
    mirrored too, and measures as the same picture."""
    from lookalike.datasets.variants import rotate_5

    w, h = 480, 320
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack([xx / w * 200 + 30, yy / h * 180 + 40, 120 + 60 * np.sin(xx / 70)], -1)
    smooth = Image.fromarray(rgb.astype(np.uint8))
    draw = ImageDraw.Draw(smooth)
    draw.ellipse((150, 90, 300, 220), fill=(240, 230, 90))
    from lookalike.grouping.verify import _rotation, fingerprint

    copy_plain = rotate_5(smooth)
    for copy in (copy_plain, ImageOps.mirror(rotate_5(smooth))):
        v = _verdict(smooth, copy, tmp_path)
        # a turn, or a crop whose alignment the sub-pixel refinement turned
        assert v.same and v.signals.aligned in ("rotated", "slid"), v.reason
        assert v.signals.difference < 0.1
        fa, fb = fingerprint(tmp_path / "a.png"), fingerprint(tmp_path / "b.png")
        turned = _rotation(fa.full, fb.full)
        assert turned is not None and 4.5 <= abs(turned[4]) <= 5.5 and turned[0] < 0.1
        # the turn of the mirror image says so, in the signals and in words
        mirrored = copy is not copy_plain
        assert turned[6] is mirrored
        if v.signals.aligned == "rotated":
            assert v.signals.flipped is mirrored
            assert ("mirrored and turned" in v.reason) is mirrored, v.reason


def test_alignments_are_compared_by_difference_and_the_kept_one_measured_in_full(
    tmp_path: Path,
) -> None:
    """Each way of aligning a pair is weighed by its difference alone; the full
    measurement of the alignment kept gives that difference again. Float versions of the
    thumbnails are kept for the fingerprints used last only, read-only."""
    from lookalike.grouping import verify

    original = scene("noise", 3).resize((400, 300))
    original.save(tmp_path / "a.png")
    original.crop((30, 20, 370, 275)).save(tmp_path / "b.png")
    fa, fb = fingerprint(tmp_path / "a.png"), fingerprint(tmp_path / "b.png")
    slid = verify._slide(fa, fb)
    assert slid is not None
    assert verify._measure(*slid[5])[0] == slid[0] == verify._difference(*slid[5])
    assert compare(fa, fb, 0.9).difference == slid[0]
    with pytest.raises(ValueError):
        fa.rgb[0, 0, 0] = 1.0  # shared between pairs and threads
    box = (0, 0, 8, 8)
    many = [verify.Fingerprint(8, 8, np.full((8, 8, 3), k, np.uint8), box) for k in range(80)]
    for fp in many:
        assert fp.full[0, 0, 0] == fp.pixels[0, 0, 0]
    holding = [fp for fp in [*many, fa, fb] if fp._floats]
    assert len(holding) == verify.RECENT and holding[-1] is many[-1]


def test_a_pair_no_crop_lines_up_is_ruled_out_on_quarter_size_greys(tmp_path: Path) -> None:
    """Two different pictures of one kind: the slide's quarter-size search finds no crop
    that comes within its gate, so it stops there; the crop of either passes the gate."""
    from lookalike.grouping import verify

    a, b = scene("noise", 3).resize((400, 300)), scene("noise", 4).resize((400, 300))
    a.save(tmp_path / "a.png")
    b.save(tmp_path / "b.png")
    a.crop((30, 20, 370, 275)).save(tmp_path / "c.png")
    fa, fb, fc = (fingerprint(tmp_path / f"{n}.png") for n in "abc")
    _, apart = verify._coarse_fits(fa, fb, verify._tries(fa.rgb.shape[:2], fb.rgb.shape[:2]))
    _, close = verify._coarse_fits(fa, fc, verify._tries(fa.rgb.shape[:2], fc.rgb.shape[:2]))
    assert apart > verify.SLIDE_GATE >= close
    assert verify._slide(fa, fb) is None and verify._slide(fa, fc) is not None


def test_sub_pixel_refinement_finds_a_known_shift() -> None:
    """ECC runs on half-size greys and its warp is scaled back: a picture moved by one and
    a half pixels is lined up to a fraction of a pixel everywhere in the mask, and the
    normalised difference over a mask is the one the measurement uses."""
    import cv2

    from lookalike.grouping import verify

    rng = np.random.default_rng(5)
    g = cv2.GaussianBlur(rng.random((192, 256)).astype(np.float32) * 255, (0, 0), 2.0)
    shift = np.float32([[1, 0, 1.6], [0, 1, -0.7]])
    moved = cv2.warpAffine(g, shift, (256, 192), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT)  # fmt: skip
    mask = np.zeros(g.shape, bool)
    mask[20:-20, 20:-20] = True
    warp = verify._ecc(g, moved, mask)
    assert warp is not None
    yy, xx = np.nonzero(mask)
    where = np.stack([xx, yy, np.ones_like(xx)]).astype(np.float64)
    error = np.linalg.norm((warp.astype(np.float64) - shift) @ where, axis=0)
    assert error.mean() < 0.25 and error.max() < 0.5  # 1.7 px before
    ref = np.abs(verify._normalised(g, mask) - verify._normalised(moved, mask))[mask].mean()
    assert verify._masked_difference(g, moved, mask) == pytest.approx(float(ref), rel=1e-4)


def test_cell_means_over_a_mask_are_area_means() -> None:
    """The cells of several channels and of the mask come from one area resize; each is
    the mean over the mask's pixels in the cell, NaN where it has none."""
    from lookalike.grouping import verify

    rng = np.random.default_rng(2)
    x = rng.random((48, 60, 3)).astype(np.float32)
    mask = rng.random((48, 60)) > 0.3
    mask[:8, :10] = False  # an empty cell
    got = verify._cells(x, mask)
    blocks = x.reshape(6, 8, 6, 10, 3)
    weights = mask.reshape(6, 8, 6, 10)[..., None]
    with np.errstate(invalid="ignore"):
        want = (blocks * weights).sum(axis=(1, 3)) / weights.sum(axis=(1, 3))
    assert np.isnan(got[0, 0]).all() and np.isnan(want[0, 0]).all()
    assert np.allclose(got, want, atol=1e-5, equal_nan=True)
    assert np.allclose(verify._cells(x[..., 1], mask), want[..., 1], atol=1e-5, equal_nan=True)


@pytest.fixture
def near_pair(photos: Path) -> Path:
    im = Image.open(photos / "shapes-7.jpg").convert("RGB")
    _jpeg(im, 40).save(photos / "shapes-7-q40.jpg")
    with Collection.open(photos) as col:
        col.index(workers=1)
    return photos


def test_report_explains_each_near_pair(
    near_pair: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["group", str(near_pair), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["verified"] is True
    group = next(g for g in data["groups"] if any("q40" in m["path"] for m in g["members"]))
    assert group["tier"] == "near"
    verdict = next(v for v in group["verdicts"] if "q40" in v["a"] + v["b"])
    assert verdict["same"] and verdict["reason"].startswith("one picture")
    assert {"difference", "local", "fine", "colour", "aligned", "cosine"} <= set(verdict)


def test_a_vanished_candidate_is_reported(near_pair: Path) -> None:
    """A file deleted since indexing cannot be verified: it is reported, never grouped as
    a duplicate, and the run completes."""
    (near_pair / "shapes-7-q40.jpg").unlink()
    with Collection.open(near_pair) as col:
        report = find_duplicates(col)
    assert [s.path for s in report.unreadable] == ["shapes-7-q40.jpg"]
    assert not any("q40" in str(m.path) for g in report.tier("near") for m in g.members)


def _tiers(report) -> list[tuple[str, list[str], str]]:  # type: ignore[no-untyped-def]
    return [
        (g.tier, sorted(str(m.path) for m in g.members), str(g.keep.path)) for g in report.groups
    ]


def test_a_later_grouping_judges_the_measures_kept_by_an_earlier_one(near_pair: Path) -> None:
    """The second run measures nothing on the pixels and groups exactly as the first;
    --remeasure measures every pair again."""
    with Collection.open(near_pair) as col:
        assert col.info().measures_kept == 0
        first = find_duplicates(col)
        kept = col.info().measures_kept
        second = find_duplicates(col)
        again = find_duplicates(col, reuse=False)
    assert first.measured > 0 and first.reused == 0
    assert kept == first.measured  # `lookalike info` says how many
    assert second.measured == 0 and second.reused == first.measured
    assert _tiers(second) == _tiers(first)
    reasons = [sorted(v.reason for v in g.verdicts.values()) for g in first.groups]
    assert [sorted(v.reason for v in g.verdicts.values()) for g in second.groups] == reasons
    assert again.measured == first.measured and again.reused == 0


def test_info_counts_only_the_measures_this_release_reuses(
    near_pair: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Right after an upgrade the catalogue still holds an older verifier's measures, which
    no grouping reuses: ``info`` leaves them out of the count it reports, and the next
    grouping prunes them."""
    from lookalike.grouping.measures import measures_version

    with Collection.open(near_pair) as col:
        first = find_duplicates(col)
        col.catalog.keep_measures("0.0/signals-0", [("old-a", "old-b", False, "{}")], [])
        assert col.info(measures_version=measures_version()).measures_kept == first.measured
        assert col.info().measures_kept == first.measured + 1
        find_duplicates(col)
        assert col.info().measures_kept == first.measured
    with Collection.open(near_pair) as col:
        col.catalog.keep_measures("0.0/signals-0", [("old-a", "old-b", False, "{}")], [])
    assert main(["info", str(near_pair)]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert f"pixel measures of {first.measured:,} pairs kept" in printed


def test_a_file_gone_since_its_measures_were_kept_is_still_reported(near_pair: Path) -> None:
    with Collection.open(near_pair) as col:
        near = find_duplicates(col).tier("near")
    assert any("q40" in str(m.path) for g in near for m in g.members)
    (near_pair / "shapes-7-q40.jpg").unlink()
    with Collection.open(near_pair) as col:
        report = find_duplicates(col)
    assert [s.path for s in report.unreadable] == ["shapes-7-q40.jpg"]
    assert not any("q40" in str(m.path) for g in report.tier("near") for m in g.members)


def test_a_catalogue_that_cannot_be_written_costs_only_the_reuse(near_pair: Path) -> None:
    with Collection.open(near_pair) as col:
        col.catalog._db.execute("PRAGMA query_only=ON")  # SQLite refuses every write
        first = find_duplicates(col)
        second = find_duplicates(col)
    assert first.unkept is not None and "cannot keep pixel measures" in first.unkept
    assert any("q40" in str(m.path) for g in first.tier("near") for m in g.members)
    assert second.measured == first.measured and second.reused == 0


def test_kept_signals_come_back_exactly(tmp_path: Path) -> None:
    a = scene("shapes", 3)
    b = _jpeg(a.crop((10, 8, a.width - 10, a.height - 12)), 50)
    a.save(tmp_path / "a.png")
    b.save(tmp_path / "b.png")
    s = compare(fingerprint(tmp_path / "a.png"), fingerprint(tmp_path / "b.png"), 0.9)
    assert PairSignals(0.9, **json.loads(signals_text(s))) == s
    assert "cosine" not in json.loads(signals_text(s))


def test_calibration_split_is_deterministic(tmp_path: Path) -> None:
    assert split_of("photos", "chelsea") == split_of("photos", "chelsea")
    halves = {split_of("x", f"n{i}") for i in range(40)}
    assert halves == {"calibration", "validation"}

    def source() -> Iterator[Picture]:
        for seed in range(4):
            yield Picture("made", f"scene-{seed}", scene("shapes", seed))

    first = build_duplicate_set(tmp_path / "a", {"made": source})
    second = build_duplicate_set(tmp_path / "b", {"made": source})
    assert first.split == second.split and first.groups == second.groups
    assert len(first.groups) == 4 and all(len(g) == 1 + len(ALTERATIONS) for g in first.groups)
    kinds = {k for _, _, k in first.negatives}
    assert {"hue-shift", "pasted-object", "caption", "blended-object"} <= kinds
    # blended objects from each of the last few pictures, as files of their own
    blended = Counter(a for a, _, k in first.negatives if k == "blended-object")
    assert max(blended.values()) == BLENDS > 1
    assert len({b for _, b, k in first.negatives if k == "blended-object"}) == blended.total()
    for rel in first.split:
        assert (tmp_path / "a" / rel).is_file()
    assert (tmp_path / "a" / "truth.json").is_file()


def test_two_donors_that_give_one_blend_give_it_once(tmp_path: Path) -> None:
    """A blended object takes only the drawing of its donor's middle: two donors that differ
    elsewhere (a wallpaper's day and night versions differ in colour, which the blend
    takes out) make one picture, which the set writes once rather than labelling two
    identical pictures as two."""
    twin = np.asarray(scene("shapes", 1)).copy()
    twin[:, :30] = twin[:, -30:] = (250, 20, 200)  # the same middle, other edges

    def source() -> Iterator[Picture]:
        yield Picture("made", "first", scene("shapes", 0))
        yield Picture("made", "second", scene("shapes", 1))
        yield Picture("made", "twin", Image.fromarray(twin))
        yield Picture("made", "last", scene("noise", 2))

    last = scene("noise", 2)
    same = blend_object(last, scene("shapes", 1)), blend_object(last, Image.fromarray(twin))
    assert np.array_equal(np.asarray(same[0]), np.asarray(same[1]))
    truth = build_duplicate_set(tmp_path / "set", {"made": source})
    blends = [b for a, b, k in truth.negatives if k == "blended-object" and "/last/" in b]
    assert len(blends) == 2  # from the twin and the first picture; the second's is the twin's
    shown = [Image.open(tmp_path / "set" / b) for b in blends]
    assert float(np.abs(np.asarray(shown[0], float) - np.asarray(shown[1], float)).max()) > 24


def test_a_blended_object_takes_the_colours_of_what_it_covers() -> None:
    rng = np.random.default_rng(0)
    im = Image.fromarray(rng.integers(60, 120, (200, 300, 3), dtype=np.uint8))
    out = blend_object(im, scene("shapes", 1))
    a, b = np.asarray(im, np.float32), np.asarray(out, np.float32)
    changed = np.abs(a - b).max(axis=2) > 0
    ys, xs = np.nonzero(changed)
    # one disc, a fifth of the shorter side across, of the same colours as beneath
    assert 30 <= np.ptp(ys) + 1 <= 40 and 30 <= np.ptp(xs) + 1 <= 40
    assert np.allclose(a[changed].mean(axis=0), b[changed].mean(axis=0), atol=1.5)
    assert np.allclose(a[changed].std(axis=0), b[changed].std(axis=0), rtol=0.1)
    assert np.abs(a - b)[changed].mean() > 10  # yet another drawing


def test_variants_of_the_test_images_are_copies(tmp_path: Path) -> None:
    original = scene("shapes", 2)
    for how in ("resized", "reencoded", "flipped"):
        assert _verdict(original, variant(original, how), tmp_path).same, how


def _signals(difference: float, colour: float, tiny: bool = False):  # type: ignore[no-untyped-def]
    from lookalike.grouping.verify import PairSignals

    return PairSignals(0.9, difference, difference, difference, colour, 0, 1.0, "direct", tiny)


def test_fitted_limits_separate_what_can_be_separated() -> None:
    from lookalike.grouping.verify_fit import fit_rule

    rng = np.random.default_rng(0)
    copies = [_signals(float(d), float(c)) for d, c in rng.uniform(0, 0.15, (200, 2))]
    recoloured = [_signals(float(d), 1.5) for d in rng.uniform(0, 0.15, 50)]
    other = [_signals(float(d), float(c)) for d, c in rng.uniform(0.5, 2.0, (200, 2))]
    rule, fit = fit_rule(copies + recoloured + other, [1] * 200 + [0] * 250)
    assert fit["precision"] == 1.0 and fit["recall"] == 1.0
    assert rule.colour < 1.5 and rule.difference < 0.5
    # a mislabelled pair makes the precision unreachable: the fit still keeps most copies
    noisy, fit = fit_rule([*copies, _signals(0.01, 0.01)], [1] * 200 + [0])
    assert fit["recall"] >= 0.9 and noisy.difference >= 0.15


def test_each_kind_of_pair_is_fitted_and_judged_by_its_own_rule(tmp_path: Path) -> None:
    """Pairs in the same framing have no alignment error to allow for, so their rule may be
    tighter than the rule for crops; a kind with too few true pairs is judged (and fitted)
    as regular; saved rules round-trip, and rules saved before kinds existed still load."""
    from dataclasses import replace

    from lookalike.grouping.verify import pair_kind
    from lookalike.grouping.verify_fit import MIN_TRUE, fit_rules, save_rules

    rng = np.random.default_rng(1)
    framed = [_signals(float(d), 0.1) for d in rng.uniform(0, 0.1, 150)]  # exact copies
    slid = [replace(_signals(float(d), 0.1), aligned="slid") for d in rng.uniform(0.1, 0.3, 150)]
    # a changed detail in the same framing: a difference no crop's alignment error makes
    detail = [_signals(float(d), 0.1) for d in rng.uniform(0.15, 0.25, 40)]
    other = [replace(_signals(float(d), 0.1), aligned="slid") for d in rng.uniform(0.6, 2, 80)]
    tiny = [_signals(float(d), 0.1, tiny=True) for d in rng.uniform(0, 0.1, 50)]
    signals = framed + slid + detail + other + tiny
    labels = [1] * 300 + [0] * 120 + [1] * 50
    assert [pair_kind(s) for s in (framed[0], slid[0], tiny[0])] == ["framed", "regular", "tiny"]
    assert pair_kind(replace(slid[0], small=True)) == "small"
    rules, notes = fit_rules(signals, labels)
    assert rules.framed is not None and rules.small is None  # no small pairs: none fitted
    assert notes["framed"]["precision"] == 1.0 and notes["framed"]["recall"] == 1.0
    assert all(not judge_pair(rules, d).same for d in detail)  # judged by the framed rule
    assert judge_pair(rules, replace(detail[0], aligned="slid")).same  # by the regular one
    assert rules.kind_for(replace(slid[0], small=True)) == "regular"  # no small rule
    # too few true framed pairs: they are fitted with the regular ones, no rule of their own
    few, _ = fit_rules(
        framed[: MIN_TRUE - 1] + slid + other + tiny,
        [1] * (MIN_TRUE - 1 + 150) + [0] * 80 + [1] * 50,
    )
    assert few.framed is None and few.kind_for(framed[0]) == "regular"
    path = save_rules(rules, tmp_path / "rules.json")
    assert load_rules(path) == rules
    old = json.loads(path.read_text())
    del old["framed"]
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert load_rules(tmp_path / "old.json") == replace(rules, framed=None)


def test_a_refit_refuses_a_spot_of_other_content_before_fitting_the_limits() -> None:
    """Blended objects whose every signal but ``likeness`` equals a copy's: no limit can
    tell them apart, so the fit refuses them by their likeness first (same framing only)
    and then fits the limits on what is left, with nothing wrong admitted."""
    from lookalike.grouping.verify import SPOT
    from lookalike.grouping.verify_fit import BODY, LIKENESS, SEMANTIC, fit_rules

    rng = np.random.default_rng(2)
    copies = [replace(_signals(float(d), 0.1), patch=0.3, likeness=0.9)
              for d in rng.uniform(0.0, 0.1, 150)]  # fmt: skip
    twins = [replace(_signals(0.02, 0.1), patch=0.3, likeness=0.9) for _ in range(30)]
    blends = [replace(t, likeness=0.05) for t in twins]
    assert blends[0].focus > SPOT
    slid = [replace(c, aligned="slid") for c in copies[:60]]
    tiny = [_signals(float(d), 0.1, tiny=True) for d in rng.uniform(0, 0.1, 30)]
    signals = copies + twins + blends + slid + tiny
    rules, notes = fit_rules(signals, [1] * 180 + [0] * 30 + [1] * 90)
    assert rules.framed is not None and rules.framed.likeness == LIKENESS
    assert rules.regular.likeness is None and rules.tiny.likeness is None
    # what the network sees is asked in the same framing only; see-through overlays
    # wherever an overlay is excused
    assert rules.framed.semantic == SEMANTIC and rules.regular.semantic is None
    assert rules.framed.body == BODY and rules.regular.body == BODY and rules.tiny.body is None
    assert notes["framed"]["precision"] == 1.0 and notes["framed"]["recall"] == 1.0
    verdict = judge_pair(rules, blends[0])
    assert not verdict.same and verdict.distinct and "other content" in verdict.reason
    assert judge_pair(rules, twins[0]).same


def test_a_watermark_is_an_overlay_a_pasted_object_or_new_caption_is_not(
    tmp_path: Path,
) -> None:
    """The overlay signals: a semi-transparent text watermark changes its region one way
    in thin strokes (and passes); an object pasted in is solid and a changed caption
    moves both ways (and fail)."""
    from lookalike.datasets.alterations import caption, paste_object
    from lookalike.datasets.variants import watermark

    original = scene("noise", 6).resize((480, 360))
    marked = _verdict(original, watermark(original), tmp_path)
    assert marked.same, marked.reason
    assert marked.signals.sign >= 0.95 and marked.signals.solid <= 0.4

    pasted = _verdict(original, paste_object(original, scene("shapes", 3)), tmp_path)
    assert not pasted.same, pasted.reason
    assert pasted.signals.solid > 0.4 or pasted.signals.sign < 0.95
    relabelled = _verdict(caption(original, "SALE 10"), caption(original, "SALE 70"), tmp_path)
    assert not relabelled.same, relabelled.reason
    assert relabelled.signals.sign < 0.95


def _grass_and_wall(seed: int) -> tuple[Image.Image, Image.Image]:
    """A grey photo (sky above, grass below) and a brick wall to paste into it: bricks a
    little lighter than the grass, between bright mortar lines 2 px wide."""
    rng = np.random.default_rng(seed)
    g = np.empty((360, 480), np.float32)
    g[:150] = np.linspace(215, 185, 150)[:, None]
    blobs = Image.fromarray(rng.normal(0, 1, (35, 80)).astype(np.float32), mode="F")
    g[150:] = 100 + 10 * np.asarray(blobs.resize((480, 210), Image.Resampling.BICUBIC))
    wall = np.clip(122 + rng.normal(0, 6, (72, 72)), 0, 255)
    for row, y in enumerate(range(0, 72, 12)):
        wall[y : y + 2] = 235
        for x in range(0 if row % 2 else 12, 72, 24):
            wall[y : y + 12, x : x + 2] = 235
    photo = Image.fromarray(np.clip(g, 0, 255).astype(np.uint8)).convert("RGB")
    return photo, Image.fromarray(wall.astype(np.uint8)).convert("RGB")


def test_an_opaque_wall_is_no_watermark_though_its_mortar_lines_look_like_one(
    tmp_path: Path,
) -> None:
    """A brick wall pasted over grass changes its cell one way in thin lines (its mortar),
    as a watermark does; but it touches every pixel it covers (``body``), where a
    semi-transparent watermark leaves the picture beneath it between its strokes."""
    from lookalike.datasets.alterations import paste_object
    from lookalike.datasets.variants import watermark

    photo, wall = _grass_and_wall(2)
    pasted = _verdict(photo, paste_object(photo, wall), tmp_path)
    s = pasted.signals
    assert s.sign >= 0.95 and s.solid <= 0.4  # a watermark by its sign and strokes
    assert not pasted.same and "body" in pasted.reason, pasted.reason
    rules = load_rules()
    rule = rules.for_pair(s)
    assert rule.body is not None and s.body > rule.body
    assert judge_pair(replace(rules, **{rules.kind_for(s): replace(rule, body=None)}), s).same
    marked = _verdict(photo, watermark(photo), tmp_path)
    assert marked.same, marked.reason
    assert marked.signals.body <= rules.for_pair(marked.signals).body  # type: ignore[operator]


def _blurred_ground(seed: int) -> Image.Image:
    """A smooth, out-of-focus picture (colour blobs blurred away): a ground on which an
    object blended in changes little in grey levels."""
    from PIL import ImageFilter

    rng = np.random.default_rng(seed)
    blobs = Image.fromarray(rng.uniform(0, 255, (3, 4, 3)).astype(np.uint8))
    big = blobs.resize((480, 360), Image.Resampling.BICUBIC)
    return big.filter(ImageFilter.GaussianBlur(20))


def test_an_object_blended_into_a_smooth_ground_is_seen_by_the_network(
    tmp_path: Path,
) -> None:
    """Stripes blended into a smooth ground, in its colours and contrast, pass every
    pixel limit (the window there correlates, or is flat); the network reads stripes
    where the copies show a blur, so the verifier asks it (``semantic``), refuses the
    pair and calls it two distinct pictures; the ground's copies still pass."""
    from lookalike.grouping.verifier import Verifier

    original = _blurred_ground(0)
    pictures = {0: original, 1: blend_object(original, scene("stripes", 1))}
    for k, name in enumerate(("jpeg-q30", "resave-70", "noise", "mirror"), start=2):
        pictures[k] = ALTERATIONS[name](original)
    paths = {}
    for i, im in pictures.items():
        paths[i] = tmp_path / f"{i}.png"
        im.save(paths[i])
    rules = load_rules()
    assert rules.framed.semantic is not None
    judge = Verifier(rules, paths.__getitem__, workers=1)
    judge.prepare(paths)
    blended = judge.judge(0, 1, 0.9)
    assert not blended.same and blended.distinct, blended.reason
    assert "to the network" in blended.reason
    s = blended.signals
    assert s.semantic is not None and s.semantic > rules.framed.semantic
    pixels_only = replace(rules, framed=replace(rules.framed, semantic=None))
    assert judge_pair(pixels_only, replace(s, semantic=None)).same  # pixels alone admit it
    for k in range(2, len(pictures)):
        copy = judge.judge(0, k, 0.9)
        assert copy.same, copy.reason


def test_an_excused_overlay_is_named_in_the_verdict() -> None:
    from lookalike.grouping.verify import PairSignals, Rule, Rules

    rule = Rule(0.25, 0.4, 0.4, 0.2, sign=0.95, solid=0.4)
    rules = Rules(rule, Rule(0.15, 0.2, 0.4, 0.2))
    thin = PairSignals(0.9, 0.1, 0.6, 0.9, 0.05, 0, 1.0, "direct", False, 1.0, 0.2)
    blob = PairSignals(0.9, 0.1, 0.6, 0.9, 0.05, 0, 1.0, "direct", False, 1.0, 0.8)
    v = judge_pair(rules, thin)
    assert v.same and "watermark-like overlay" in v.reason
    v = judge_pair(rules, blob)
    assert not v.same and "a region differs" in v.reason and "not a thin overlay" in v.reason
    tiny = PairSignals(0.9, 0.1, 0.6, 0.9, 0.05, 0, 1.0, "direct", True, 1.0, 0.2)
    assert not judge_pair(rules, tiny).same  # tiny pictures have no overlay excuse


def test_a_black_and_white_version_of_a_colour_drawing_is_another_picture(
    tmp_path: Path,
) -> None:
    """Colourfulness: a grey version of the flag changes ``chroma`` by most of it, a
    brighter or warmer copy by little; a rule with a chroma limit names it."""
    from lookalike.grouping.verify import Rule, Rules

    original = flag()
    grey = ImageOps.grayscale(original).convert("RGB")
    for copy in (ALTERATIONS["brighter"](original), ALTERATIONS["colour-grade"](original)):
        assert _verdict(original, copy, tmp_path).signals.chroma < 0.3
    v = _verdict(original, grey, tmp_path)
    assert v.signals.chroma > 0.7
    rule = Rule(0.5, 2.0, 9.0, 2.0, chroma=0.4)
    verdict = judge_pair(Rules(rule, rule), v.signals)
    assert not verdict.same and "colourfulness differs" in verdict.reason


def test_an_alignment_covering_too_little_proves_nothing() -> None:
    from lookalike.grouping.verify import PairSignals, Rule, Rules

    rule = Rule(0.2, 0.4, 0.4, 0.2, overlap=0.6)
    rules = Rules(rule, rule)
    crop = PairSignals(0.9, 0.0, 0.0, 0.0, 0.0, 0, 0.45, "slid", False)
    v = judge_pair(rules, crop)
    assert not v.same and "too little overlaps (overlap 45% < 60%)" in v.reason
    assert judge_pair(rules, replace(crop, overlap=0.72)).same
    turned = replace(crop, aligned="rotated", angle=-5.25, overlap=0.94)
    assert "turned 5.25 degrees, 94% overlap" in judge_pair(rules, turned).reason


def test_fitted_limits_include_colourfulness_and_overlap() -> None:
    """Where only colourfulness or coverage tells copies from look-alikes, the fit sets
    those limits; where nothing needs them, they sit just beyond every copy (MARGIN), so a
    kind of look-alike the calibration pairs lack still meets a limit."""
    from lookalike.grouping.verify import PairSignals
    from lookalike.grouping.verify_fit import MARGIN, fit_rule

    rng = np.random.default_rng(1)

    def s(chroma: float, overlap: float, aligned: str = "direct") -> PairSignals:
        d = float(rng.uniform(0, 0.1))
        return PairSignals(0.9, d, d, d, 0.05, 0, overlap, aligned, False, chroma=chroma)

    copies = [s(float(c), 1.0) for c in rng.uniform(0, 0.2, 100)]
    copies += [s(0.05, float(o), "slid") for o in rng.uniform(0.65, 0.9, 50)]
    grey = [s(float(c), 1.0) for c in rng.uniform(0.7, 1.0, 40)]
    part = [s(0.05, float(o), "slid") for o in rng.uniform(0.2, 0.5, 40)]
    rule, fit = fit_rule(copies + grey + part, [1] * 150 + [0] * 80)
    assert fit["precision"] == 1.0 and fit["recall"] == 1.0
    assert rule.chroma is not None and 0.2 <= rule.chroma < 0.7
    assert rule.overlap is not None and 0.5 <= rule.overlap <= 0.65
    plain, fit = fit_rule(copies, [1] * 150)
    assert fit["recall"] == 1.0
    chromas, overlaps = [c.chroma for c in copies], [c.overlap for c in copies]
    assert plain.chroma == pytest.approx(max(chromas) * MARGIN, abs=0.01)
    assert plain.overlap == pytest.approx(min(overlaps) / MARGIN, abs=0.01)
    assert plain.focus is not None and plain.focus >= max(c.focus for c in copies)


def test_small_pictures_find_their_noisy_copies_by_pixels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pixel neighbours: a noisy and a mirrored copy of a 96-px picture are among its
    nearest by signature, whatever else looks alike; large pictures are left out."""
    from lookalike.grouping.pixel_neighbours import pixel_pairs, small_ids
    from lookalike.grouping.verifier import Verifier
    from lookalike.grouping.verify import Rules

    rng = np.random.default_rng(0)
    paths = []
    for k in range(30):
        im = scene("shapes", k).resize((96, 96), Image.Resampling.LANCZOS)
        paths.append(tmp_path / f"s{k}.png")
        im.save(paths[-1])
    base = np.asarray(Image.open(paths[5]), np.float32)
    noisy = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    paths.append(tmp_path / "noisy.png")
    Image.fromarray(noisy).save(paths[-1])
    paths.append(tmp_path / "mirror.png")
    ImageOps.mirror(Image.open(paths[5])).save(paths[-1])
    rules = load_rules()
    judge = Verifier(Rules(rules.regular, rules.tiny), lambda i: paths[i], workers=1)
    found = pixel_pairs(judge, range(len(paths)), k=3)
    assert (5, 30) in found and (5, 31) in found
    assert small_ids({1: (96, 96), 2: (1024, 96), 3: (None, None)}) == {1}
    # past MAX_PRINTS pictures, they are fingerprinted a part at a time: the same pairs
    from lookalike.grouping import verifier as verifying

    monkeypatch.setattr(verifying, "MAX_PRINTS", 8)
    judge = Verifier(Rules(rules.regular, rules.tiny), lambda i: paths[i], workers=1)
    assert pixel_pairs(judge, range(len(paths)), k=3) == found
    assert sum(fp is not None for fp in judge.prints.values()) <= 8


def test_a_darker_rendering_of_a_grey_drawing_changes_tone(tmp_path: Path) -> None:
    """Tone: a grey icon redrawn in black is the same shape to normalised grey levels,
    but its mean grey level falls far more than a +20% brightness copy's rises."""
    from lookalike.grouping.verify import Rule, Rules

    icon = Image.new("RGB", (128, 128), (255, 255, 255))
    draw = ImageDraw.Draw(icon)
    draw.ellipse((8, 8, 120, 120), fill=(120, 120, 120))
    draw.rectangle((44, 30, 84, 98), fill=(200, 200, 200))
    black = Image.fromarray((np.asarray(icon, np.float32) * 0.45).astype(np.uint8))
    brighter = _verdict(icon, ALTERATIONS["brighter"](icon), tmp_path).signals
    darker = _verdict(icon, black, tmp_path).signals
    assert brighter.tone < 0.2 < darker.tone and darker.difference < 0.05
    rule = Rule(0.2, 0.4, 0.6, 0.4, tone=0.25)
    verdict = judge_pair(Rules(rule, rule), darker)
    assert not verdict.same and "brightness differs" in verdict.reason


def test_a_changed_digit_shows_in_a_small_patch(tmp_path: Path) -> None:
    """``patch``: two captions that differ in one digit on a large picture differ in a
    window smaller than a grid cell far more than a JPEG q30 copy does anywhere."""
    from lookalike.datasets.alterations import caption

    big = scene("noise", 6).resize((1280, 720), Image.Resampling.BICUBIC)
    one, seven = caption(big, "No. 1"), caption(big, "No. 7")
    changed = _verdict(one, seven, tmp_path).signals
    lossy = _verdict(one, _jpeg(one, 30), tmp_path).signals
    assert changed.aligned == "direct" and changed.patch > 2 * lossy.patch
    assert changed.patch > changed.fine


def test_two_captions_on_one_photo_are_distinct_and_never_share_a_group(tmp_path: Path) -> None:
    """Two labels on one photo differ in one spot while the rest agrees (``focus``): the
    pair is shown to be two pictures, so a group that holds one of them sets the other
    aside even where both are one picture with the original; a lossy copy is no such
    spot."""
    from lookalike.datasets.alterations import caption
    from lookalike.grouping.verified import _complete
    from lookalike.grouping.verify import PairSignals, Verdict

    big = scene("noise", 6).resize((1280, 720), Image.Resampling.BICUBIC)
    one, seven = caption(big, "No. 1"), caption(big, "No. 7")
    labels = _verdict(one, seven, tmp_path)
    assert not labels.same and labels.distinct, labels.reason
    assert "one spot differs" in labels.reason and labels.signals.focus > 27
    lossy = _verdict(one, _jpeg(one, 30), tmp_path)
    assert lossy.same and not lossy.distinct and lossy.signals.focus < 27
    # a brightened copy refused for one spot (clipped highlights) is not alike elsewhere:
    # refused, but never shown to be another picture that would split its group
    from lookalike.grouping.verify import BRIGHTENED

    brighter = replace(labels.signals, tone=BRIGHTENED + 0.08)
    assert not judge_pair(load_rules(), brighter).same
    assert not judge_pair(load_rules(), brighter).distinct

    # 1, 2: a photo and its copy; 3 and 4: its two captioned versions, one picture with
    # 1 and 2 (an overlay) but distinct from each other; 5: a copy of 4
    signals = PairSignals(0.9, 0.0, 0.0, 0.0, 0.0, 0, 1.0, "direct", False)
    same, other = Verdict(True, signals, ""), Verdict(False, signals, "", distinct=True)
    verdicts = {(a, b): same for a in range(1, 6) for b in range(a + 1, 6)}
    verdicts[(3, 4)] = verdicts[(3, 5)] = other
    assert _complete([1, 2, 3, 4, 5], verdicts) == [[1, 2, 4, 5]]  # 3 has fewer links
    verdicts[(3, 5)] = same  # 3 and 4 now have as many links: the last of them goes
    assert _complete([1, 2, 3, 4, 5], verdicts) == [[1, 2, 3, 5]]
    # 3 and 6: two copies of one captioned version, distinct from 4 and 5: set aside
    # together, they make a group of their own
    verdicts = {(a, b): same for a in range(1, 7) for b in range(a + 1, 7)}
    verdicts.update({(3, 4): other, (3, 5): other, (4, 6): other, (5, 6): other})
    assert _complete([1, 2, 3, 4, 5, 6], verdicts) == [[1, 2, 4, 5], [3, 6]]


def test_two_small_copies_of_a_drawing_refused_by_one_spot_still_share_its_group(
    tmp_path: Path,
) -> None:
    """A 70% and a half-size copy of a 320-px drawing are both small, so the strict rule
    for small pictures judges them, and resampling at the drawing's hard edges makes one
    spot differ more than it allows: refused, but not shown to be two pictures, so both
    stay in their original's group."""
    from lookalike.grouping.linkage import pair
    from lookalike.grouping.verified import _complete

    rules = load_rules()
    for seed in (106, 107, 112):
        drawing = scene("shapes", seed)
        half, resaved = ALTERATIONS["half-size"](drawing), ALTERATIONS["resave-70"](drawing)
        copies = _verdict(half, resaved, tmp_path)
        assert copies.signals.small and copies.signals.same_framing
        assert not copies.same and rules.for_pair(copies.signals).local_edit(copies.signals)
        assert not copies.distinct, copies.reason
        verdicts = {
            pair(0, 1): _verdict(drawing, half, tmp_path),
            pair(0, 2): _verdict(drawing, resaved, tmp_path),
            pair(1, 2): copies,
        }
        assert verdicts[pair(0, 1)].same and verdicts[pair(0, 2)].same
        assert _complete([0, 1, 2], verdicts) == [[0, 1, 2]]


def test_an_object_added_on_a_plain_background_is_no_copy(tmp_path: Path) -> None:
    """A product shot on white and the same shot with a sticker on the white: the trimmed
    product alone is a perfect "crop" of the second picture, so the crop and feature
    alignments must also hold over the trimmed background. A padded copy still passes."""
    product = Image.new("RGB", (480, 360), (255, 255, 255))
    product.paste(scene("shapes", 4).resize((220, 300)), (30, 30))
    sticker = product.copy()
    ImageDraw.Draw(sticker).ellipse((340, 120, 440, 220), fill=(220, 30, 40))
    added = _verdict(product, sticker, tmp_path)
    assert not added.same, added.reason
    padded = ImageOps.expand(product, border=40, fill=(255, 255, 255))
    v = _verdict(product, padded, tmp_path)
    assert v.same, v.reason


def test_an_overlay_that_turns_hues_is_a_drawing_not_a_watermark(tmp_path: Path) -> None:
    """A white watermark pales the colours it covers and keeps their hue; thin strokes
    drawn in other colours over a pale wall are just as thin and one-way in grey, but
    turn the hue: they are no overlay to excuse, and the pair is two pictures."""
    from lookalike.datasets.variants import watermark
    from lookalike.grouping.verify import _turn

    rng = np.random.default_rng(4)
    wall = np.clip(np.array([200, 235, 215]) + rng.normal(0, 3, (360, 480, 3)), 0, 255)
    original = Image.fromarray(wall.astype(np.uint8))
    ImageDraw.Draw(original).rectangle((40, 40, 200, 160), fill=(150, 200, 170))
    drawn = original.copy()
    pen = ImageDraw.Draw(drawn)
    for k in range(14):  # a sketch in purple, one pixel thin, where the wall is pale
        pen.line((300 + 6 * k, 220, 320 + 5 * k, 320), fill=(190, 110, 200), width=1)

    marked = _verdict(original, watermark(original), tmp_path)
    assert marked.same, marked.reason
    assert marked.signals.turn <= 30.0
    sketched = _verdict(original, drawn, tmp_path)
    assert sketched.signals.sign >= 0.95 and sketched.signals.solid <= 0.4, sketched.reason
    assert sketched.signals.turn > 30.0
    assert not sketched.same and "hue turned" in sketched.reason

    pale = np.array([[200.0, 235.0, 215.0]] * 6, np.float32)
    assert _turn(pale, pale * 0.6 + 255 * 0.4) < 1.0  # paler, same hue
    assert _turn(pale, pale[:, [2, 1, 0]] * 0 + [190, 110, 200]) > 90.0  # purple on green
    assert _turn(pale, np.full_like(pale, 128)) == 0.0  # grey has no hue to turn


def test_an_overlay_whose_changes_cancel_is_a_drawing_not_a_watermark(tmp_path: Path) -> None:
    """A white watermark moves every pixel it covers one way, so the region around it
    grows paler on the whole (``net`` near 1); thin pale strokes drawn in a disc whose
    other pixels darken just enough to keep its mean (an object in the colours of what it
    covers) are as thin and one-way where they changed most, but their changes cancel:
    no overlay to excuse, and the pair is two pictures."""
    import cv2

    from lookalike.datasets.variants import watermark

    rng = np.random.default_rng(5)
    noise = cv2.GaussianBlur(rng.normal(0, 1, (240, 320)), (0, 0), 4)
    grey = 110 + 6 * noise / noise.std()
    grey[:, :120] += 70  # a pale wall on the left, smooth grass on the right

    strokes, disc = Image.new("L", (320, 240)), Image.new("L", (320, 240))
    for k in range(6):
        ImageDraw.Draw(strokes).line((200 + 9 * k, 90, 212 + 9 * k, 170), fill=255, width=1)
    ImageDraw.Draw(disc).ellipse((190, 80, 270, 170), fill=255)
    inside = np.asarray(disc) > 0
    drawn = inside & (np.asarray(strokes) > 0)
    edited = grey.copy()
    edited[drawn] += 110
    edited[inside & ~drawn] -= 110 * drawn.sum() / (inside & ~drawn).sum()  # the mean kept
    original = _grey_picture(grey)

    marked = _verdict(original, watermark(original), tmp_path)
    assert marked.same, marked.reason
    assert marked.signals.net >= 0.5
    sketched = _verdict(original, _grey_picture(edited), tmp_path)
    s = sketched.signals
    assert s.sign >= 0.95 and s.solid <= 0.4 and s.turn <= 30.0, sketched.reason
    assert s.net < 0.2
    assert not sketched.same and "net 0." in sketched.reason
    rules = load_rules()
    lenient = replace(rules, framed=replace(rules.framed, net=None))
    assert judge_pair(lenient, s).same  # the overlay excuse alone would have let it pass


def test_an_object_blended_into_a_texture_shows_other_content_where_it_differs(
    tmp_path: Path,
) -> None:
    """A disc of another fine texture, in the mean and spread of the grass it covers:
    the picture differs in one spot only, by less than the ``focus`` limit, but there the
    grey levels no longer correlate (``likeness``), so the pair is two pictures, never
    grouped; coded, resized and noisy copies show the same grass there and pass."""
    import cv2

    from lookalike.grouping import verify

    rules = load_rules()
    lenient = replace(rules, framed=replace(rules.framed, likeness=None))
    assert rules.framed is not None and rules.framed.likeness is not None
    for seed in (0, 2, 3):
        rng = np.random.default_rng(seed)
        grass = cv2.GaussianBlur(rng.normal(0, 1, (240, 320)), (0, 0), 2)
        grey = 110 + 6 * grass / grass.std()
        grey[:, :120] += 70  # a pale wall on the left
        other = cv2.GaussianBlur(rng.normal(0, 1, (240, 320)), (0, 0), 2)
        disc = Image.new("L", (320, 240))
        ImageDraw.Draw(disc).ellipse((200, 95, 260, 155), fill=255)
        inside = np.asarray(disc) > 0
        edited = grey.copy()
        beneath, drawn = grey[inside], other[inside]
        edited[inside] = (drawn - drawn.mean()) / drawn.std() * beneath.std() + beneath.mean()
        original = _grey_picture(grey)

        blended = _verdict(original, _grey_picture(edited), tmp_path)
        s = blended.signals
        assert verify.SPOT < s.focus <= rules.framed.focus  # focus alone would let it pass
        assert s.likeness < rules.framed.likeness
        assert not blended.same and blended.distinct and "other content" in blended.reason
        assert judge_pair(lenient, s).same
        for name in ("jpeg-q30", "resave-70", "half-size", "noise"):
            copy = _verdict(original, ALTERATIONS[name](original), tmp_path)
            assert copy.same, (name, copy.reason)


def test_a_faint_window_is_compared_and_only_a_blank_one_is_not() -> None:
    """The most changed window of a smooth ground (a sky, a wall) is faint but not blank:
    a copy there still shows the same shading and correlates, an object blended in shows
    other content and does not; only a window left blank (clipped to one grey level) has
    nothing to compare and reads 1."""
    import cv2

    from lookalike.grouping import verify

    rng = np.random.default_rng(4)
    h, w = 240, 320
    grey = np.full((h, w), 60.0)
    grey[:, : w // 2] = 190.0  # a dark and a light half: the picture's spread is about 65
    ramp = np.linspace(-1, 1, 40)
    faint = 120 + 14 * (ramp[None, :] + ramp[:, None])  # a shading: 4.5% of it in 10 px
    grey[100:140, 220:260] = faint
    texture = cv2.GaussianBlur(rng.normal(0, 1, (40, 40)), (0, 0), 1.5)

    def likeness(window: np.ndarray) -> float:
        other = grey.copy()
        other[100:140, 220:260] = window
        a, b = (np.repeat(g[..., None], 3, axis=2).astype(np.float32) for g in (grey, other))
        return verify._measure(a, b, np.ones((h, w), bool))[11]  # likeness

    shaded = likeness(120 + 1.3 * (faint - 120) + rng.normal(0, 0.2, faint.shape))
    blended = likeness(120 + 4 * texture / texture.std())
    blank = likeness(np.full(faint.shape, 120.0))
    limit = load_rules().framed.likeness
    assert limit is not None
    assert shaded > 0.9
    assert blended < limit
    assert blank == 1.0


def test_a_brightened_copy_need_not_move_its_region_one_way(tmp_path: Path) -> None:
    """Brightening clips a picture's highlights, which then move against the rest once
    grey levels are normalised: around such a spot the changes cancel, as a blended
    object's do. A pair whose whole tone changed is not asked for ``net``; one whose
    tone stayed (a blended object keeps it) is."""
    from lookalike.grouping.verify import BRIGHTENED

    sky = np.linspace(170, 250, 320)[None, :, None].repeat(240, axis=0).repeat(3, axis=2)
    sky[150:, :] = 70  # dark ground under a pale sky
    original = Image.fromarray(sky.astype(np.uint8))
    brighter = _verdict(original, ALTERATIONS["brighter"](original), tmp_path)
    assert brighter.same, brighter.reason
    assert brighter.signals.tone >= BRIGHTENED

    rule = load_rules().framed
    assert rule is not None and rule.net is not None
    edit = PairSignals(
        0.9, 0.05, rule.local + 0.2, 0.3, 0.05, 0, 1.0, "direct", False, sign=1.0, solid=0.2,
        turn=5.0, net=rule.net / 5,
    )  # fmt: skip
    assert not rule.overlay(edit)  # changes that cancel, the tone kept: no overlay
    assert rule.overlay(replace(edit, tone=BRIGHTENED + 0.05))  # the whole picture brightened
    assert rule.overlay(replace(edit, net=rule.net + 0.1))  # moved one way


def test_rules_fitted_before_are_scored_on_both_halves_without_a_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``evaluate-groups --set hard --rules shipped`` groups both halves with the shipped
    rules and scores them; a rules file that cannot be read fails before any work."""
    names = [f"scene-{k}" for k in range(12)]
    chosen = [n for n in names if split_of("made", n) == "calibration"][:2]
    chosen += [n for n in names if split_of("made", n) == "validation"][:2]

    def source() -> Iterator[Picture]:
        for name in chosen:
            yield Picture("made", name, scene("shapes", int(name.split("-")[1])).resize((320, 240)))

    folder = tmp_path / "set"
    build_duplicate_set(folder, {"made": source})
    assert main(["evaluate-groups", "--set", "hard", "--out", str(folder), "--rules", "shipped",
                 "--json", "-q"]) == 0  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    assert "fit" not in data and data["rules"] == load_rules().to_dict()
    for half in ("calibration", "validation"):
        assert data[half]["true_pairs"] > 0
        assert data[half]["recall"] > 0.5 and data[half]["precision"] > 0.5
    assert data["unverified"]["true_pairs"] == data["validation"]["true_pairs"]

    missing = tmp_path / "none.json"
    assert main(["evaluate-groups", "--set", "hard", "--out", str(folder),
                 "--rules", str(missing)]) != 0  # fmt: skip
    assert "cannot read the verifier's rules" in capsys.readouterr().err
    fitted = tmp_path / "fitted.json"
    assert main(["evaluate-groups", "--set", "hard", "--out", str(folder), "--rules", "shipped",
                 "--save-rules", str(fitted)]) != 0  # fmt: skip
    assert not fitted.exists()  # --rules fits nothing to save


def test_a_recolouring_turns_the_hue_of_every_coloured_pixel(tmp_path: Path) -> None:
    """``hue``: a recolouring turns the hue of the whole picture alike (here by 120
    degrees), a colour grade by a few degrees, and a grey picture has no hue to turn."""
    from lookalike.grouping.verify import _hue

    original = flag(3)
    turned = _verdict(original, hue_shift(original), tmp_path)
    assert turned.signals.hue > 90.0
    assert not turned.same and "hues turned" in turned.reason
    graded = _verdict(original, ALTERATIONS["colour-grade"](original), tmp_path)
    assert graded.signals.hue < 15.0 and graded.same, graded.reason
    grey = np.full((400, 3), 128.0, np.float32)
    assert _hue(grey, grey[:, ::-1] + 10) == 0.0
    pale = np.array([[200.0, 235.0, 215.0]] * 400, np.float32)
    assert _hue(pale, pale[:, [1, 0, 2]]) > 90.0  # green to orange


def test_a_pair_is_measured_from_its_smaller_picture_whatever_the_ids(tmp_path: Path) -> None:
    """Indexing hands out ids as decoding finishes, so a pair's ids may come in either
    order: the verifier measures from the smaller picture all the same (the larger is
    brought down to it), and of two as large from the first in its order (a tie-break
    that a renamed file does not move)."""
    from lookalike.grouping.verifier import Verifier
    from lookalike.grouping.verify import Rules

    big = scene("shapes", 3).resize((400, 300), Image.Resampling.BICUBIC)
    big.save(tmp_path / "big.png")
    big.resize((160, 120), Image.Resampling.LANCZOS).save(tmp_path / "small.png")
    ImageOps.mirror(big).save(tmp_path / "mirror.png")
    fb, fs = fingerprint(tmp_path / "big.png"), fingerprint(tmp_path / "small.png")
    # the premise: measured one way or the other, the signals differ
    assert signals_text(compare(fb, fs, 0.9)) != signals_text(compare(fs, fb, 0.9))
    rules = load_rules()
    measured = []
    for names in (["big.png", "small.png"], ["small.png", "big.png"]):
        paths = [tmp_path / n for n in names]
        judge = Verifier(Rules(rules.regular, rules.tiny), paths.__getitem__)
        judge.prepare([0, 1])
        assert names[judge.first(0, 1)] == "small.png"
        measured.append(signals_text(judge.judge(0, 1, 0.9).signals))
    assert measured[0] == measured[1] == signals_text(compare(fs, fb, 0.9))
    # as large: the order breaks the tie, and only the order does
    for key in ({0: "b", 1: "a"}, {0: "a", 1: "b"}):
        for names in (["big.png", "mirror.png"], ["mirror.png", "big.png"]):
            paths = [tmp_path / n for n in names]
            judge = Verifier(Rules(rules.regular, rules.tiny), paths.__getitem__, order=key.get)
            judge.prepare([0, 1])
            assert judge.first(0, 1) == min(key, key=key.get)


def _scenes_with_copies(folder: Path) -> list[Path]:
    """Four scenes, each as it is, as a JPEG q40 and mirrored (12 pictures), then one
    file that is not a picture."""
    paths = []
    for k in range(4):
        im = scene("shapes", k).resize((320, 240), Image.Resampling.BICUBIC)
        for name, copy in (("o", im), ("j", _jpeg(im, 40)), ("m", ImageOps.mirror(im))):
            paths.append(folder / f"{k}{name}.png")
            copy.save(paths[-1])
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not a picture")
    return [*paths, folder / "broken.png"]


def test_many_pairs_are_measured_in_worker_processes_as_in_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past :data:`~lookalike.grouping.measure_pool.MIN_PAIRS` pairs, worker processes
    measure them: the verdicts are those one thread gives, bit for bit, a pair with an
    unreadable picture is still reported, and where processes cannot start threads
    measure instead."""
    from lookalike.grouping import measure_pool
    from lookalike.grouping.verifier import Verifier

    paths = _scenes_with_copies(tmp_path)
    pairs = [((a, b), 0.9) for a in range(len(paths)) for b in range(a + 1, len(paths))]
    rules = load_rules()

    def verdicts(workers: int) -> list[str]:
        judge = Verifier(rules, paths.__getitem__, workers=workers)
        judge.prepare(range(len(paths)))
        got = judge.judge_many(pairs)
        assert judge.measured == len(pairs) - (len(paths) - 1)  # the broken one: none
        return [f"{v.same} {v.reason} {signals_text(v.signals)}" for v in got]

    one = verdicts(1)
    monkeypatch.setattr(measure_pool, "MIN_PAIRS", 1)
    started = []
    real = measure_pool.measure_in_processes

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        started.append(args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(measure_pool, "measure_in_processes", spy)
    assert verdicts(2) == one and started == [2]
    assert sum("not verified" in v and "broken.png" in v for v in one) == len(paths) - 1
    assert sum(v.startswith("True") for v in one) >= 12  # each scene's three copies

    def no_processes(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError("no processes here")

    monkeypatch.setattr(measure_pool, "measure_in_processes", no_processes)
    assert verdicts(2) == one


UNGUARDED_SCRIPT = """
import numpy as np
from lookalike.grouping.verifier import Verifier
from lookalike.grouping.verify import Fingerprint
from lookalike.grouping.verify_fit import load_rules

# no `if __name__ == "__main__":` guard: a spawned worker runs this again and dies
rng = np.random.default_rng(0)
judge = Verifier(load_rules(), lambda i: f"{i}.png", workers=2)
for i in range(COUNT):
    pixels = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
    judge.prints[i] = Fingerprint(16, 16, pixels, (0, 0, 16, 16))
pairs = [((i, i + 1), 0.9) for i in range(COUNT - 1)]
print("judged", len(judge.judge_many(pairs)))
"""


def test_a_script_without_the_main_guard_is_judged_in_threads_not_hung(tmp_path: Path) -> None:
    """A script that groups at import time makes each spawned worker run it again and
    die. With thousands of fingerprints the run must still end (in threads, with a
    warning): a worker's start data larger than a pipe holds (64 KB) would leave the
    parent waiting forever to write it to the dead worker."""
    import subprocess
    import sys

    count = 8000  # where each lies in the shared block: ~170 KB pickled
    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED_SCRIPT.replace("COUNT", str(count)))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"judged {count - 1}" in done.stdout
    assert "measuring pairs in threads" in done.stderr


def test_blocks_left_by_killed_runs_are_swept(tmp_path: Path) -> None:
    """A run killed before it could delete its pixel block (in ``/dev/shm`` it would hold
    memory until a restart) leaves a folder named after its process; the next run
    deletes those whose process is gone, never a live one's."""
    import os
    import subprocess
    import sys

    from lookalike.grouping import measure_pool

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead = tmp_path / f"{measure_pool.PREFIX}{gone.stdout.strip()}-abc"
    alive = tmp_path / f"{measure_pool.PREFIX}{os.getpid()}-def"
    other = tmp_path / "something-else"
    for folder in (dead, alive, other):
        folder.mkdir()
        (folder / "pixels.npy").write_bytes(b"x")
    measure_pool._sweep(tmp_path)
    assert not dead.exists() and alive.exists() and other.exists()


def test_many_pictures_are_measured_in_parts_with_the_same_verdicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past :data:`~lookalike.grouping.verifier.MAX_PRINTS` pictures to measure, the
    verifier fingerprints them a part at a time and drops each part's fingerprints when
    the next needs none of them: memory stays bounded, and every verdict, share of
    content and unreadable picture comes out as in one part."""
    from lookalike.grouping import verifier as verifier_module
    from lookalike.grouping.verifier import Verifier

    paths = _scenes_with_copies(tmp_path)
    # each scene's copies, and each original with the next scene's
    pairs = [((3 * k + a, 3 * k + b), 0.9) for k in range(4) for a, b in ((0, 1), (0, 2), (1, 2))]
    pairs += [((3 * k, 3 * k + 3), 0.8) for k in range(3)] + [((0, 12), 0.8)]
    rules = load_rules()

    def run() -> tuple[list[str], dict[int, float], int]:
        made: list[tuple[int, int]] = []
        judge = Verifier(rules, paths.__getitem__, workers=1, progress=lambda *a: made.append(a))
        held = []
        real = judge.prepare

        def spy(ids):  # type: ignore[no-untyped-def]
            real(ids)
            held.append(sum(fp is not None for fp in judge.prints.values()))

        monkeypatch.setattr(judge, "prepare", spy)
        got = [f"{v.same} {v.reason} {signals_text(v.signals)}" for v in judge.judge_many(pairs)]
        # progress heard of every fingerprint made, the unreadable file's attempt included
        assert made[-1][0] == made[-1][1] >= 13 and made == sorted(made)
        return got, judge.content(range(12)), max(held)

    whole, shares, most = run()
    assert most == 12 and sum(v.startswith("True") for v in whole) == 12
    assert "not verified" in whole[-1] and "broken.png" in whole[-1]
    monkeypatch.setattr(verifier_module, "MAX_PRINTS", 4)
    parts, part_shares, most = run()
    assert parts == whole and part_shares == shares and most <= 4
