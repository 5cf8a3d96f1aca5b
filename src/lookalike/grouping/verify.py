"""A second, pixel-level opinion on the candidate pairs the kNN graph proposes: copies of
one picture pass, different pictures that look alike fail.

Each image gets a fingerprint once: a thumbnail with solid borders trimmed. A pair is
aligned directly (same framing, or mirrored), as a crop by template matching, by ORB
features and a RANSAC similarity transform (OpenCV), or by turning one of two pictures
of the same shape a few degrees, so crops, rotations and letterboxing line up. On the
aligned overlap it measures:

* ``difference``: mean absolute difference of the grey levels, each picture normalised
  to zero mean and unit spread (so brightness and contrast changes cost nothing);
* ``local`` and ``fine``: the largest such difference in one cell of a 6 x 6 and of a
  12 x 12 grid (an object pasted in, a changed caption), and ``patch`` in any window a
  24th of the shorter side wide (a changed digit, smaller than a cell);
* ``focus``: how many times ``patch`` exceeds ``difference``: a local edit of an
  otherwise identical picture (a new label) stands out; a copy's changes (coding noise,
  resampling) spread over all of it;
* ``likeness``: how well the two pictures' grey levels correlate in that most changed
  window: a resampled or re-coded copy still shows the same edge or texture there, an
  object blended into the picture shows another one;
* ``colour``: the chromaticity difference (colour with brightness divided out) of the
  cells, once the shift common to all cells is taken out (a recolouring, not a grade);
* ``hue``: the median angle by which the hue of the overlap's coloured pixels turned (a
  recolouring turns them all alike, which the cells' ``colour`` takes out as a grade);
* ``chroma``: how much more or less colourful the cells are (a black-and-white or flat
  version of a colour drawing, whose dark cells ``colour`` cannot weigh);
* ``tone``: how much brighter or darker the overlap is on the whole (the log ratio of
  the mean grey levels: a black version of a grey drawing, which the normalised grey
  levels cannot see);
* ``sign``, ``solid``, ``turn`` and ``net``: what the change in the most changed cell
  looks like (one way or both, thin strokes or a solid shape, how far it turned the hue
  of the pixels it changed, and whether the region around it moved one way on the whole
  or its changes cancel), which tells a watermark from an edit (:func:`_overlay`);
* ``inliers`` and ``overlap`` of the alignment.

A pair is always measured the same way round, whatever the order of its ids: the smaller
picture (fewer pixels in the file) is the reference the other is brought to, so that
nothing is blown up to compare (:meth:`~lookalike.grouping.verifier.Verifier.first`).

Limits on these signals (one set for each kind of pair: :data:`KINDS`),
fitted on the calibration half of the near-duplicate set (``lookalike evaluate-groups
--set hard``), decide; the verdict names the limits a rejected pair exceeded.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from lookalike.imageio import read_image

#: Longest side of the thumbnail the signals are computed on.
THUMB = 256
#: Pictures whose shorter side is below this many pixels, 64 or less, are "tiny" (icons,
#: digits, 64-px thumbnails: a square one is as tiny as a wide one).
TINY = 65
#: Pictures at most this many pixels on the longer side are "small" (icons, product
#: shots): they find candidates by their pixels too, and a thin overlay on them is a
#: change of the picture, not a watermark to excuse.
SMALL_SIDE = 256
GRID = 6
#: A direct alignment this good needs no feature matching.
GOOD_DIRECT = 0.05
MIN_INLIERS = 10


@dataclass
class Fingerprint:
    """What verification needs of one image, computed once per grouping run. The pixels
    are kept as bytes (a quarter of floats: 10,000 fingerprints of 256 px take 1.5 GB,
    not 6) and handed out as floats, which only the fingerprints used last keep."""

    width: int  # the file's own size
    height: int
    pixels: NDArray[np.uint8]  # (h, w, 3) thumbnail, untrimmed
    box: tuple[int, int, int, int]  # (top, left, height, width) without solid borders
    _orb: tuple[NDArray[np.float32], NDArray[np.uint8] | None] | None = None
    _coarse: NDArray[np.float32] | None = None
    #: Float versions made for the pairs judged lately (see :func:`_recent`).
    _floats: dict[str, NDArray[np.float32]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def full(self) -> NDArray[np.float32]:
        """The thumbnail untrimmed (a trim can miss by a pixel), 0..255 (read-only)."""
        return _recent(self, "full", lambda: self.pixels.astype(np.float32))

    @property
    def rgb(self) -> NDArray[np.float32]:
        """The thumbnail with its solid borders trimmed, 0..255 (read-only)."""
        top, left, h, w = self.box
        return _recent(
            self, "rgb", lambda: self.pixels[top : top + h, left : left + w].astype(np.float32)
        )

    def greys(self) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """The trimmed thumbnail's grey levels, at full and at half size (where the
        slide matches crops; read-only)."""
        g = _recent(self, "grey", lambda: grey(self.rgb))
        half = _recent(
            self, "half", lambda: _resize(g, (max(1, g.shape[0] // 2), max(1, g.shape[1] // 2)))
        )
        return g, half

    @property
    def offset(self) -> tuple[int, int]:
        """(top, left) of the trimmed thumbnail in the whole one."""
        return self.box[0], self.box[1]

    @property
    def trimmed(self) -> bool:
        """Whether a solid border was trimmed."""
        return self.box[2:] != self.pixels.shape[:2]

    @property
    def tiny(self) -> bool:
        """A picture too small for pixel detail to mean much."""
        return min(self.width, self.height) < TINY

    def coarse(self) -> NDArray[np.float32]:
        """The trimmed thumbnail's grey levels at a quarter of its size (64 px: where the
        slide first looks for a crop), made once."""
        if self._coarse is None:
            g = self.greys()[0]
            self._coarse = _resize(g, (max(1, g.shape[0] // 4), max(1, g.shape[1] // 4)))
        return self._coarse

    def orb(self) -> tuple[NDArray[np.float32], NDArray[np.uint8] | None]:
        """ORB keypoint positions and descriptors, found once on first use."""
        if self._orb is None:
            import cv2

            detector = cv2.ORB_create(nfeatures=700, fastThreshold=10)
            kps, desc = detector.detectAndCompute(self.greys()[0].astype(np.uint8), None)
            self._orb = (np.float32([k.pt for k in kps]).reshape(-1, 2), desc)
        return self._orb


#: How many fingerprints keep their float versions at once: pairs come sorted, so one
#: picture's pairs follow each other, and a few dozen cover them (at about 1.4 MB each;
#: kept for all, 10,000 fingerprints would take 14 GB).
RECENT = 64
_recent_prints: OrderedDict[int, Fingerprint] = OrderedDict()
_recent_lock = threading.Lock()


def _recent(
    fp: Fingerprint, name: str, make: Callable[[], NDArray[np.float32]]
) -> NDArray[np.float32]:
    """``fp``'s float version ``name``, made once while ``fp`` is among the
    :data:`RECENT` fingerprints used last (the uint8 pixels stay the only copy kept for
    long). Read-only, as it is shared between pairs and threads."""
    got = fp._floats.get(name)
    if got is None:
        got = make()
        got.flags.writeable = False
        fp._floats[name] = got
    with _recent_lock:
        _recent_prints[id(fp)] = fp
        _recent_prints.move_to_end(id(fp))
        while len(_recent_prints) > RECENT:
            _, old = _recent_prints.popitem(last=False)
            old._floats = {}
    return got


#: The signals of a region or detail, which a thin overlay may excuse.
REGIONAL = ("local", "fine", "patch", "focus")
#: A pair whose whole picture changed brightness by this much (``tone``: +20% reads 0.15)
#: is not asked to move one way around its most changed cell (``net``): clipped
#: highlights then move against the rest. On the calibration half the brightened copies
#: that needed the overlay excuse read 0.086 and more, and the limit sits a quarter below
#: that (0.086 / 1.25, as the fit sets a limit it leaves open); a blended object changes
#: the tone by at most 0.001 against its original.
BRIGHTENED = 0.07
#: A mean difference below this is as small as coding noise makes it: a picture that
#: differs less is not counted as more focused on its most changed window.
FOCUS_FLOOR = 0.02
#: A pair more focused than this on its most changed window (``focus``) is asked whether
#: that window still shows the same content (``likeness``, :meth:`Rule.replaced`). Less
#: focused, the window is mostly coding noise, which correlates with nothing: on the
#: calibration half, of the same-framing copies that pass every other limit (brightened
#: ones and excused overlays aside), those that read a likeness under the limit had
#: ``focus`` 7.7 at most (a letterboxed and a mirrored copy of a tiled pattern), and this
#: sits a quarter above that (x 1.25, as the fit sets a limit it leaves open). Brightened
#: copies (:attr:`PairSignals.retoned`, whose clipped highlights decorrelate) are not asked.
SPOT = 9.6
#: A window with a grey-level spread under this share of its picture's in either picture
#: is flat: its likeness is 1, as nothing there can be compared (a copy whose colour grade
#: clipped the window to black reads 0). Above it the window is compared: on the
#: calibration half, the flattest window in which a copy was compared read 0.045 (a
#: colour-graded sky, likeness 0.95 and more against its copies), and this sits a quarter
#: under it (/ 1.25, as the fit sets a limit it leaves open); a blended object on a
#: smooth ground that read 0.049 there correlates -0.3 with it.
FLAT_SPOT = 0.036


@dataclass(frozen=True)
class PairSignals:
    """The measured evidence about one pair (see the module's docstring)."""

    cosine: float
    difference: float
    local: float
    fine: float  # the same on a grid twice as fine (a changed digit, a small object)
    colour: float
    inliers: int
    overlap: float
    aligned: str  # direct, mirrored, slid (a crop), features, rotated or none
    tiny: bool
    sign: float = 0.0  # the most changed cell: share of its changes in one direction
    solid: float = 1.0  # ... and share of them left after a 3 x 3 erosion
    chroma: float = 0.0  # change of colourfulness, relative to the more colourful one
    angle: float = 0.0  # degrees a rotated copy was turned by
    tone: float = 0.0  # |log| of the ratio of mean grey levels
    patch: float = 0.0  # the largest difference in a small window (a 24th of the side)
    small: bool = False  # both pictures at most SMALL_SIDE px on the longer side
    turn: float = 0.0  # the most changed cell: mean hue turn of its changed pixels (deg)
    hue: float = 0.0  # the whole overlap: median hue turn of its coloured pixels (degrees)
    net: float = 0.0  # around the most changed cell: |sum| / sum of sizes of its changes
    likeness: float = 1.0  # the most changed window: correlation of the grey levels there
    body: float = 0.0  # the most changed cell: share of the pixels it touched left eroded
    #: The network's reading of the most changed 16-px cell: how far it moved (cosine
    #: distance of EfficientNet-Lite0 features); measured only where a rule asks
    #: (:func:`wants_semantic`), None elsewhere.
    semantic: float | None = None
    #: A rotated copy was found turned from the mirror image (the rotation search tries
    #: both); measures kept before this was recorded read False.
    flipped: bool = False

    @property
    def same_framing(self) -> bool:
        """Aligned as they are or mirrored: no alignment error to allow for."""
        return self.aligned in ("direct", "mirrored")

    @property
    def retoned(self) -> bool:
        """The whole picture changed brightness (``tone`` at least :data:`BRIGHTENED`):
        its clipped highlights may move against the rest, so it is neither asked to move
        one way around its most changed cell nor alike but for one spot."""
        return self.tone >= BRIGHTENED

    @property
    def focus(self) -> float:
        """How many times the most changed small window differs more than the whole
        overlap does (``patch`` over ``difference``, a difference under
        :data:`FOCUS_FLOOR` counting as that): high for a local edit of an otherwise
        identical picture."""
        return self.patch / max(self.difference, FOCUS_FLOOR)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, rounded for reading."""
        d = asdict(self)
        d["focus"] = round(self.focus, 1)
        for k in ("cosine", "difference", "local", "fine", "colour", "overlap", "sign", "solid",
                  "chroma", "tone", "patch", "turn", "hue", "net", "likeness", "body"):  # fmt: skip
            d[k] = round(float(d[k]), 4)
        if d["semantic"] is not None:
            d["semantic"] = round(float(d["semantic"]), 4)
        return d


def trim_box(rgb: NDArray[np.uint8], tolerance: int = 24) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the picture without its solid borders: outer rows and
    columns where at most 3% of the pixels stray more than ``tolerance`` from the corners'
    colour (so noise or JPEG ringing on a border does not keep it), unless that would
    leave less than a fifth of the picture (then all of it)."""
    import cv2

    whole = (0, 0, rgb.shape[0], rgb.shape[1])
    corners = np.stack([rgb[0, 0], rgb[0, -1], rgb[-1, 0], rgb[-1, -1]]).astype(np.int16)
    bg = np.median(corners, axis=0)
    # a pixel strays where any channel lies outside bg +- tolerance (whole levels: the
    # test in OpenCV, several times quicker than in NumPy on a thumbnail)
    low, high = np.ceil(bg - tolerance), np.floor(bg + tolerance)
    near = cv2.inRange(np.ascontiguousarray(rgb), tuple(low.tolist()), tuple(high.tolist()))
    mask = near == 0
    rows = np.flatnonzero(np.count_nonzero(mask, axis=1) / mask.shape[1] > 0.03)
    cols = np.flatnonzero(np.count_nonzero(mask, axis=0) / mask.shape[0] > 0.03)
    if len(rows) == 0 or len(cols) == 0:
        return whole
    h, w = int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)
    if h * w < 0.2 * rgb.shape[0] * rgb.shape[1]:
        return whole
    return int(rows[0]), int(cols[0]), h, w


def fingerprint(path: str | os.PathLike[str]) -> Fingerprint:
    """Decode ``path`` to a trimmed thumbnail; :class:`ImageDecodeError` if unreadable."""
    img = read_image(path, size=THUMB, fit=True)
    return Fingerprint(img.width, img.height, img.pixels, trim_box(img.pixels))


def grey(rgb: NDArray[np.float32]) -> NDArray[np.float32]:
    """Grey levels of an RGB array (ITU-R 601 weights)."""
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)


def _resize(a: NDArray[np.float32], shape: tuple[int, int]) -> NDArray[np.float32]:
    import cv2

    h, w = shape
    if a.shape[:2] == (h, w):
        return a
    shrink = a.shape[0] * a.shape[1] > h * w
    return cv2.resize(a, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _smooth(a: NDArray[np.float32]) -> NDArray[np.float32]:
    """A light Gaussian blur (3 x 3, sigma 0.8): takes out pixel noise and lossy-coding
    ringing, keeps shapes of two pixels and more (a changed digit, a pasted object)."""
    import cv2

    return cv2.GaussianBlur(a, (3, 3), 0.8)


def _cells(
    x: NDArray[np.float32], mask: NDArray[np.bool_] | None, grid: int = GRID
) -> NDArray[np.float32]:
    """Mean of ``x`` (h, w[, c], at most 3 channels) in each cell of a ``grid`` x ``grid``
    grid, over ``mask`` (None: all of it; area-weighted, by OpenCV's area resize, the
    mask's weights as one more channel of the same resize); NaN for a cell the mask
    leaves empty."""
    import cv2

    if mask is None:  # all of it: no cell is empty
        return cv2.resize(np.ascontiguousarray(x), (grid, grid), interpolation=cv2.INTER_AREA)
    m = mask.astype(np.float32)
    planes = [p * m for p in (cv2.split(x) if x.ndim == 3 else [x])]
    both = cv2.resize(cv2.merge([*planes, m]), (grid, grid), interpolation=cv2.INTER_AREA)
    num, den = both[..., :-1], both[..., -1:]
    if x.ndim == 2:
        num, den = num[..., 0], den[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 1e-3, num / den, np.nan).astype(np.float32)


#: A picture whose grey levels spread less than this is flat: normalising counts its
#: spread as this (a flat picture is not blown up into noise), and only for such
#: pictures does the slide search all over again at half and full size where no fit
#: holds near the place found on the smaller greys (on the calibration half, no crop of
#: a picture with detail was found that way).
FLAT = 4.0


def _normalised(g: NDArray[np.float32], mask: NDArray[np.bool_] | None) -> NDArray[np.float32]:
    """Grey levels with zero mean and unit spread over ``mask`` (None: all of it; a spread
    under :data:`FLAT` counts as that: a flat picture is not blown up into noise)."""
    v = g if mask is None else g[mask]
    return (g - v.mean()) / max(float(v.std()), FLAT)


#: (difference, local, fine, colour, sign, solid, chroma, tone, patch, turn, net, likeness,
#: body)
Measured = tuple[
    float, float, float, float, float, float, float, float, float, float, float, float, float
]
NO_MATCH: Measured = (2.0, 4.0, 4.0, 1.0, 0.0, 1.0, 1.0, 1.0, 4.0, 0.0, 0.0, 0.0, 1.0)
#: ``hue`` where nothing could be measured.
NO_HUE = 180.0
#: An overlap of fewer pixels than this measures nothing (:data:`NO_MATCH`, :data:`NO_HUE`).
MIN_OVERLAP = 16
#: Two aligned pictures and the mask they were measured over.
Overlap = tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.bool_]]
#: A grey level (normalised) that moved more than this counts as changed.
CHANGED = 0.5
#: ... and more than this, as touched at all (``body``: the faint parts of a change, such
#: as the darker bricks of a brick wall pasted over grass, whose mortar lines alone
#: change by :data:`CHANGED` and look like the thin strokes of a watermark).
TOUCHED = 0.15


def _measure(a: NDArray[np.float32], b: NDArray[np.float32], mask: NDArray[np.bool_]) -> Measured:
    """(difference, local, fine, colour, sign, solid, chroma, tone, patch, turn, net,
    likeness, body) of two aligned pictures over ``mask``; ``sign``, ``solid``, ``turn``,
    ``net`` and ``body`` describe the most changed cell (:func:`_overlay`), ``patch`` and
    ``likeness``
    the most changed window (:func:`_patch`). ``hue`` is measured apart
    (:func:`_hue_over`), once, on the alignment a pair keeps."""
    import cv2

    if mask.sum() < MIN_OVERLAP:
        return NO_MATCH
    ga, gb, over, moved, diff, difference = _moved(a, b, mask)
    # the 6 x 6 cells of the difference and of each picture's colourfulness, in one go
    cells, ca, cb = cv2.split(_cells(cv2.merge([diff, _spread(a), _spread(b)]), over))
    local = float(np.nanmax(cells))
    grid, worst = GRID, cells
    if min(mask.shape) >= 24:
        grid, worst = 2 * GRID, _cells(diff, over, 2 * GRID)
    fine = float(np.nanmax(worst))
    patch, likeness = _patch(diff, mask, ga, gb)
    sign, solid, turn, net, body = _overlay(moved, mask, grid, np.nan_to_num(worst, nan=-1.0), a, b)
    chroma = _chroma(ca, cb)
    mean_a, mean_b = (float(g.mean() if over is None else g[over].mean()) for g in (ga, gb))
    tone = abs(math.log((mean_a + 10.0) / (mean_b + 10.0)))
    # Chromaticity of each cell's mean colour (stable under noise), weighted by how
    # bright the cell is in both pictures (the colour of a black cell means nothing).
    # A colour grade shifts every cell's chromaticity alike; a recolouring shifts regions
    # differently: the shift common to all cells (weighted median) is taken out first.
    ma, mb = _cells(a, over), _cells(b, over)
    sa, sb = ma.sum(axis=-1, keepdims=True), mb.sum(axis=-1, keepdims=True)
    shift = (ma / np.maximum(sa, 60.0) - mb / np.maximum(sb, 60.0)).reshape(-1, 3)
    weight = np.minimum(sa, sb).reshape(-1)
    ok = np.isfinite(shift).all(axis=1) & np.isfinite(weight)
    shift, weight = shift[ok], weight[ok]
    if not len(weight) or weight.sum() <= 0:
        return (difference, local, fine, 0.0, sign, solid, chroma, tone, patch, turn, net,
                likeness, body)  # fmt: skip
    common = np.array([_weighted_median(shift[:, c], weight) for c in range(3)])
    residual = np.abs(shift - common).sum(axis=1)
    colour = float((residual * weight).sum() / max(float(weight.sum()), 1e-6)) * 10
    return (difference, local, fine, colour, sign, solid, chroma, tone, patch, turn, net,
            likeness, body)  # fmt: skip


def _moved(
    a: NDArray[np.float32], b: NDArray[np.float32], mask: NDArray[np.bool_]
) -> tuple[
    NDArray[np.float32], NDArray[np.float32], NDArray[np.bool_] | None,
    NDArray[np.float32], NDArray[np.float32], float,
]:  # fmt: skip
    """(grey a, grey b, the mask or None for all of it, how far each normalised grey
    level moved from a to b, its size, and the mean of that: ``difference``)."""
    ga, gb = grey(a), grey(b)
    over = None if mask.all() else mask  # all of it: the cheaper way
    moved = _normalised(gb, over) - _normalised(ga, over)
    diff = np.abs(moved)
    return ga, gb, over, moved, diff, float((diff if over is None else diff[over]).mean())


def _difference(a: NDArray[np.float32], b: NDArray[np.float32], mask: NDArray[np.bool_]) -> float:
    """``difference`` alone, exactly as :func:`_measure` finds it: the ways a pair is
    aligned are compared by it, and only the one kept is measured in full."""
    return NO_MATCH[0] if mask.sum() < MIN_OVERLAP else _moved(a, b, mask)[-1]


def _hue_over(a: NDArray[np.float32], b: NDArray[np.float32], mask: NDArray[np.bool_]) -> float:
    """``hue`` of two aligned pictures over ``mask`` (:func:`_hue` on every other row and
    column); :data:`NO_HUE` where :func:`_measure` could measure nothing."""
    if mask.sum() < MIN_OVERLAP:
        return NO_HUE
    half = (slice(None, None, 2), slice(None, None, 2))
    if mask.all():
        return _hue(a[half].reshape(-1, 3), b[half].reshape(-1, 3))
    return _hue(a[half][mask[half]], b[half][mask[half]])


#: A geometric alignment this close is refined to sub-pixel accuracy before measuring.
REFINE_BELOW = 0.3


def _refined(
    a: NDArray[np.float32], b: NDArray[np.float32], mask: NDArray[np.bool_]
) -> tuple[float, Overlap]:
    """The ``difference`` of a pair aligned by a crop, features or a turn, and the overlap
    it was found on; where it is close already, OpenCV's ECC first refines the alignment
    (an affine warp, to a fraction of a pixel: a crop found in 5% zoom steps or on whole
    pixels is a little off, and on a detailed picture that reads as a detail that
    differs), and the better of the two is kept."""
    import cv2

    got = _difference(a, b, mask)
    if got > REFINE_BELOW or min(mask.shape) < 24:
        return got, (a, b, mask)
    warp = _ecc(grey(a), grey(b), mask)
    if warp is None:  # no convergence: keep the alignment as found
        return got, (a, b, mask)
    h, w = a.shape[:2]
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    moved = cv2.warpAffine(b, warp, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    cover = cv2.warpAffine(mask.astype(np.uint8), warp, (w, h), flags=flags) > 0
    cover = cv2.erode(cover.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    if cover.sum() < 0.8 * mask.sum():
        return got, (a, b, mask)
    again = _difference(a, moved, cover)
    return (again, (a, moved, cover)) if again < got else (got, (a, b, mask))


def _ecc(
    ga: NDArray[np.float32], gb: NDArray[np.float32], mask: NDArray[np.bool_]
) -> NDArray[np.float32] | None:
    """The affine warp (inverse map, as OpenCV's ECC gives it) that best lines ``gb`` up
    with ``ga`` over ``mask``, found on half-size greys (a quarter of the work; still to
    a fraction of a pixel) and scaled back; None where ECC does not converge."""
    import cv2

    h, w = ga.shape
    half = (max(1, h // 2), max(1, w // 2))
    m = _resize(mask.astype(np.float32), half) > 0.99
    warp = np.eye(2, 3, dtype=np.float32)
    try:
        _, warp = cv2.findTransformECC(
            _resize(ga, half), _resize(gb, half), warp, cv2.MOTION_AFFINE,
            (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 30, 1e-4),
            m.astype(np.uint8), 3,
        )  # fmt: skip
    except cv2.error:
        return None
    # a half-size pixel's centre x lies at 2x + 0.5 full size
    sy, sx = h / half[0], w / half[1]
    a = warp[:, :2] * np.array([[1.0, sx / sy], [sy / sx, 1.0]], np.float32)
    centre = np.array([(sx - 1) / 2, (sy - 1) / 2], np.float32)
    t = warp[:, 2] * np.array([sx, sy], np.float32) + centre - a @ centre
    return np.hstack([a, t[:, None]]).astype(np.float32)


def _masked_difference(
    a: NDArray[np.float32], b: NDArray[np.float32], mask: NDArray[np.bool_]
) -> float | None:
    """The mean difference of ``a`` and ``b`` (greys) over ``mask``, each normalised there
    as :func:`_normalised` does (in OpenCV: a search calls it many times on small
    greys); None where the mask holds under :data:`MIN_OVERLAP` pixels."""
    import cv2

    m = mask.view(np.uint8)
    if cv2.countNonZero(m) < MIN_OVERLAP:
        return None
    (ma,), (sa,) = (x.ravel() for x in cv2.meanStdDev(a, mask=m))
    (mb,), (sb,) = (x.ravel() for x in cv2.meanStdDev(b, mask=m))
    d = np.abs(
        (a - np.float32(ma)) / np.float32(max(sa, FLAT))
        - (b - np.float32(mb)) / np.float32(max(sb, FLAT))
    )
    return float(cv2.mean(d, mask=m)[0])


def _patch(
    diff: NDArray[np.float32],
    mask: NDArray[np.bool_],
    ga: NDArray[np.float32],
    gb: NDArray[np.float32],
) -> tuple[float, float]:
    """The largest mean of ``diff`` in a square window a 24th of the shorter side wide
    (at least 3 px), among windows the mask fills, and how well the grey levels ``ga``
    and ``gb`` correlate in that window (Pearson; 1 where either is flat there,
    :data:`FLAT_SPOT` of the picture's spread: nothing to tell apart)."""
    import cv2

    k = max(3, round(min(diff.shape) / 24))
    m = mask.astype(np.float32)
    num = cv2.boxFilter(diff * m, -1, (k, k), borderType=cv2.BORDER_CONSTANT)
    den = cv2.boxFilter(m, -1, (k, k), borderType=cv2.BORDER_CONSTANT)
    full = den > 0.95
    if not full.any():
        return 0.0, 1.0
    mean = num / np.maximum(den, 1e-6)
    mean[~full] = -1.0
    _, peak, _, (x, y) = cv2.minMaxLoc(mean)
    top, left = max(0, y - k // 2), max(0, x - k // 2)
    wa = ga[top : top + k, left : left + k].ravel()
    wb = gb[top : top + k, left : left + k].ravel()
    sa, sb = float(wa.std()), float(wb.std())
    m8 = None if mask.all() else mask.astype(np.uint8)
    flat_a = sa < FLAT_SPOT * max(float(cv2.meanStdDev(ga, mask=m8)[1][0, 0]), FLAT)
    if flat_a or sb < FLAT_SPOT * max(float(cv2.meanStdDev(gb, mask=m8)[1][0, 0]), FLAT):
        return float(peak), 1.0
    likeness = float(((wa - wa.mean()) * (wb - wb.mean())).mean() / (sa * sb))
    return float(peak), likeness


def _spread(x: NDArray[np.float32]) -> NDArray[np.float32]:
    """Colourfulness of each pixel: the spread (max - min) of its red, green and blue."""
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    return np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)


def _chroma(ca: NDArray[np.float32], cb: NDArray[np.float32]) -> float:
    """Mean change of each cell's colourfulness (the cells' mean :func:`_spread` of
    each picture), relative to the more colourful picture: a brightness change or a
    colour grade moves it a little, a black-and-white or flat-coloured version of a
    colour picture by most of it."""
    ok = np.isfinite(ca) & np.isfinite(cb)
    if not ok.any():
        return 0.0
    scale = max(float(ca[ok].mean()), float(cb[ok].mean()), 16.0)
    return float(np.abs(ca[ok] - cb[ok]).mean()) / scale


#: Pixels whose colour (the opponent pair red - green, yellow - blue) is this far from
#: grey in both pictures, in levels, count towards ``turn`` and ``hue``; paler ones have
#: no hue.
HUED = 8.0


def _overlay(
    moved: NDArray[np.float32],
    mask: NDArray[np.bool_],
    grid: int,
    cells: NDArray[np.float32],
    a: NDArray[np.float32],
    b: NDArray[np.float32],
) -> tuple[float, float, float, float, float]:
    """What the change in the most changed cell looks like: ``sign``, the share of its
    changed pixels that moved the same way (a watermark only lightens, or only darkens;
    a changed caption does both), ``solid``, the share of them left after a 3 x 3
    erosion (thin strokes of text or a logo vanish; an object pasted in stays), and
    ``turn``, the mean angle (degrees) by which their hue turned between ``a`` and ``b``
    (RGB) where both have one: a white, grey or black overlay moves every pixel toward
    one grey, which pales its colour but keeps its hue; a drawing in other colours turns
    it; and ``net``, over the cell and the eight around it, the sum of how far the grey
    levels moved as a share of the sum of how far each moved: a semi-transparent overlay
    of one colour moves every pixel it covers toward that colour (near 1), while an
    object drawn in the colours of what it covers keeps their mean and its changes
    cancel (near 0); and ``body``, the share of the cell's pixels that moved at all
    (:data:`TOUCHED`) that the same erosion leaves: a semi-transparent overlay leaves the
    picture beneath it as it was between its strokes, while an opaque object pasted in
    touches every pixel it covers, though only its brightest lines may count as changed
    (a brick wall). A cell with too few changed pixels gives (0, 1, 0, net, body): no
    overlay."""
    import cv2

    i, j = np.unravel_index(int(np.argmax(cells)), cells.shape)
    h, w = moved.shape
    rows = slice(i * h // grid, (i + 1) * h // grid)
    cols = slice(j * w // grid, (j + 1) * w // grid)
    cell, inside = moved[rows, cols], mask[rows, cols]
    around = (
        slice(max(0, i - 1) * h // grid, min(grid, i + 2) * h // grid),
        slice(max(0, j - 1) * w // grid, min(grid, j + 2) * w // grid),
    )
    region = moved[around][mask[around]]
    size = float(np.abs(region).sum())
    net = abs(float(region.sum())) / size if size > 0 else 0.0
    touched = (np.abs(cell) > TOUCHED) & inside
    t = int(touched.sum())
    square = np.ones((3, 3), np.uint8)
    body = float(cv2.erode(touched.astype(np.uint8), square).sum()) / t if t else 0.0
    changed = (np.abs(cell) > CHANGED) & inside
    n = int(changed.sum())
    if n < 5:
        return 0.0, 1.0, 0.0, net, body
    up = float((cell[changed] > 0).mean())
    kept = cv2.erode(changed.astype(np.uint8), square)
    return (
        max(up, 1.0 - up),
        float(kept.sum()) / n,
        _turn(a[rows, cols][changed], b[rows, cols][changed]),
        net,
        body,
    )


def _turns(pa: NDArray[np.float32], pb: NDArray[np.float32]) -> NDArray[np.float32]:
    """The angles (degrees) between the opponent colours (red - green, yellow - blue) of
    the pixels ``pa`` and ``pb`` (n x 3 RGB) that have a hue in both (at least
    :data:`HUED` from grey)."""

    def opponent(p: NDArray[np.float32]) -> tuple[NDArray[np.float32], ...]:
        red, green, blue = p[:, 0], p[:, 1], p[:, 2]
        x, y = red - green, (red + green) / 2 - blue
        return x, y, np.sqrt(x * x + y * y)  # one channel at a time: 6x quicker

    xa, ya, na = opponent(pa)
    xb, yb, nb = opponent(pb)
    hued = (na >= HUED) & (nb >= HUED)
    cos = (xa[hued] * xb[hued] + ya[hued] * yb[hued]) / (na[hued] * nb[hued])
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _turn(pa: NDArray[np.float32], pb: NDArray[np.float32]) -> float:
    """The mean of :func:`_turns` (few changed pixels: each counts); 0 where under 5
    pixels have a hue in both."""
    angles = _turns(pa, pb)
    return float(angles.mean()) if len(angles) >= 5 else 0.0


#: The share of the pixels that must have a hue in both pictures for ``hue`` to count.
HUED_SHARE = 0.05


def _hue(pa: NDArray[np.float32], pb: NDArray[np.float32]) -> float:
    """The median of :func:`_turns` over a picture's pixels (every other row and column
    is plenty: a recolouring turns them all alike, a colour grade a little, and the
    median ignores the few that coding noise turns); 0 where under :data:`HUED_SHARE`
    of them (or under 20) have a hue in both: a grey picture has none to turn."""
    angles = _turns(pa, pb)
    if len(angles) < max(20, HUED_SHARE * len(pa)):
        return 0.0
    return float(np.median(angles))


def _weighted_median(values: NDArray[np.float32], weights: NDArray[np.float32]) -> float:
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, cum[-1] / 2)])


def _features_transform(fa: Fingerprint, fb: Fingerprint) -> tuple[NDArray[np.float64] | None, int]:
    """A similarity transform taking ``b`` onto ``a`` from ORB matches, and its inliers."""
    import cv2

    (ka, da), (kb, db) = fa.orb(), fb.orb()
    if da is None or db is None or len(ka) < MIN_INLIERS or len(kb) < MIN_INLIERS:
        return None, 0
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(db, da)
    if len(matches) < MIN_INLIERS:
        return None, 0
    src = kb[[m.queryIdx for m in matches]]
    dst = ka[[m.trainIdx for m in matches]]
    m, inl = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=3.0, maxIters=2000, confidence=0.99
    )
    if m is None or inl is None:
        return None, 0
    return m, int(inl.sum())


def _same_framing(
    fa: Fingerprint, fb: Fingerprint, tiny: bool
) -> tuple[float, NDArray[np.float32], NDArray[np.float32], str] | None:
    """The pair in the same framing, trimmed and as they are (where a trim cut nothing,
    once), as they are and mirrored: the one the overall grey difference picks, as (that
    difference, ``a``, ``b`` brought to it, "direct" or "mirrored"); None where the
    shapes differ too much (a tiny pair is always compared, at the smaller size)."""
    framings = [(fa.rgb, fb.rgb)]
    if fa.trimmed or fb.trimmed:
        framings.append((fa.full, fb.full))
    same: tuple[float, NDArray[np.float32], NDArray[np.float32], str] | None = None
    for a, b in framings:
        if tiny:  # compare at the smaller picture's size: detail below it means nothing
            a = _resize(a, (min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])))
        ratio_a, ratio_b = a.shape[1] / a.shape[0], b.shape[1] / b.shape[0]
        if abs(math.log(ratio_a / ratio_b)) < 0.08 or tiny:
            rb = _resize(b, a.shape[:2])
            if tiny:  # a tiny picture's pixel noise is not a difference of content
                a, rb = _smooth(a), _smooth(rb)
            ga, gb = _normalised(grey(a), None), _normalised(grey(rb), None)
            for name, cand, g in (("direct", rb, gb), ("mirrored", rb[:, ::-1], gb[:, ::-1])):
                d = float(np.abs(g - ga).mean())
                if same is None or d < same[0]:
                    same = (d, a, cand, name)
    return same


def compare(
    fa: Fingerprint, fb: Fingerprint, cosine: float, *, framed: bool = False
) -> PairSignals:
    """Align two fingerprints the best way found and measure the pair. ``framed``: try
    the same framing only, as it is or mirrored (a pair proposed by whole-picture pixel
    signatures, which see no crop or rotation)."""
    tiny = fa.tiny or fb.tiny
    best: Aligned | None = None
    same = _same_framing(fa, fb, tiny)
    if same is not None:
        whole = np.ones(same[1].shape[:2], bool)
        seen = (same[1], same[2], whole)
        best = (_difference(*seen), same[3], 0, 1.0, 0.0, seen, False)
    more = not tiny and not framed  # crops, features and rotations
    if more and (best is None or best[0] > GOOD_DIRECT):
        slid = _slide(fa, fb)
        if slid is not None and (best is None or slid[0] < best[0]):
            best = slid
    if more and (best is None or best[0] > GOOD_DIRECT):
        import cv2

        m, inliers = _features_transform(fa, fb)
        if m is not None and inliers >= MIN_INLIERS:
            # found on the trimmed pictures, measured on the untrimmed ones: a solid
            # border of one must also be in the other where it lands (as for a crop)
            shift = np.array([fa.offset[1], fa.offset[0]]) - m[:, :2] @ [fb.offset[1], fb.offset[0]]
            m = np.hstack([m[:, :2], (m[:, 2] + shift)[:, None]])
            a, b = fa.full, fb.full
            h, w = a.shape[:2]
            warped = cv2.warpAffine(b, m, (w, h), flags=cv2.INTER_LINEAR)
            cover = cv2.warpAffine(
                np.ones(b.shape[:2], np.uint8), m, (w, h), flags=cv2.INTER_NEAREST
            ).astype(bool)
            got, seen = _refined(a, warped, cover)
            if best is None or got < best[0]:
                best = (got, "features", inliers, float(cover.mean()), 0.0, seen, False)
    # a rotation is also tried where feature matching aligned the pair, so that every
    # member of a group is measured against a rotated copy with the same care
    if more and (best is None or best[0] > GOOD_DIRECT or best[1] == "features"):
        turned = _rotation(fa.full, fb.full)
        if turned is not None and (best is None or turned[0] < best[0]):
            best = turned
    if best is None:
        return PairSignals(
            cosine, *NO_MATCH[:4], 0, 0.0, "none", tiny,
            chroma=NO_MATCH[6], tone=NO_MATCH[7], patch=NO_MATCH[8], hue=NO_HUE,
            net=NO_MATCH[10], likeness=NO_MATCH[11], body=NO_MATCH[12],
        )  # fmt: skip
    _, name, inliers, overlap, angle, seen, flipped = best
    # the alignment kept alone is measured in full (the others were compared by their
    # difference, which this gives again)
    d, loc, fine, col, sign, solid, chroma, tone, patch, turn, net, likeness, body = _measure(*seen)
    hue = _hue_over(*seen)
    small = max(fa.width, fa.height, fb.width, fb.height) <= SMALL_SIDE
    return PairSignals(
        cosine, d, loc, fine, col, inliers, overlap, name, tiny, sign, solid, chroma, angle, tone,
        patch, small, turn, hue, net, likeness, body, flipped=flipped,
    )  # fmt: skip


#: (difference, how aligned, feature inliers, overlap, angle turned, what was measured,
#: turned from the mirror image)
Aligned = tuple[float, str, int, float, float, Overlap, bool]

#: Small rotations tried when nothing else aligns a pair of the same shape (degrees):
#: a picture straightened or tilted by hand, where smooth or repetitive content gives
#: feature matching too little to hold on to.
ANGLES = tuple(float(d) for d in range(-10, 11, 2) if d)
#: The rough search's mean grey difference above which no rotation is measured.
ROTATION_GATE = 0.4


def _rotation(a: NDArray[np.float32], b: NDArray[np.float32]) -> Aligned | None:
    """Align a copy rotated about its centre (as it is or mirrored): the angle is found on
    64-px grey versions, then the pair is measured where the rotated copy covers."""
    import cv2

    if abs(math.log((a.shape[1] / a.shape[0]) / (b.shape[1] / b.shape[0]))) >= 0.08:
        return None
    rb = _resize(b, a.shape[:2])
    h, w = a.shape[:2]

    def turn(
        x: NDArray[np.float32], angle: float, size: tuple[int, int]
    ) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
        hh, ww = size
        m = cv2.getRotationMatrix2D((ww / 2, hh / 2), angle, 1.0)
        out = cv2.warpAffine(x, m, (ww, hh), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
        return out, _turned_cover(hh, ww, angle)

    greys: dict[tuple[int, bool | None], NDArray[np.float32]] = {}

    def small(side: int, mirrored: bool | None) -> NDArray[np.float32]:
        """A grey version ``side`` px on the longer side: of ``a`` (None), or of ``b``
        as it is or mirrored; each made once per pair."""
        if (side, mirrored) not in greys:
            f = side / max(h, w)
            size = (max(8, round(h * f)), max(8, round(w * f)))
            x = a if mirrored is None else (rb[:, ::-1] if mirrored else rb)
            greys[side, mirrored] = grey(_resize(x, size))
        return greys[side, mirrored]

    def search(
        side: int, angles: Iterable[float], sides: Iterable[bool]
    ) -> tuple[float, float, bool]:
        ga = small(side, None)
        sh, sw = ga.shape
        best: tuple[float, float, bool] | None = None
        for mirrored in sides:
            gb = small(side, mirrored)
            for angle in angles:
                turned, cover = turn(gb, angle, (sh, sw))
                score = _masked_difference(ga, turned, cover)
                if score is None:
                    continue
                if best is None or score < best[0]:
                    best = (score, angle, mirrored)
        return best if best else (9.0, 0.0, False)

    # the angle roughly (2-degree steps) on 64-px grey versions, then to a quarter degree
    # on 128-px ones;
    # where no angle brings the grey levels close, the pair is no rotated copy
    score, angle, mirrored = search(64, ANGLES, (False,))
    if score > ROTATION_GATE:  # a mirrored and rotated copy (rarer) only then
        score, angle, mirrored = search(64, ANGLES, (True,))
        if score > ROTATION_GATE:
            return None
    _, angle, _ = search(128, [angle + d / 2 for d in range(-3, 4)], (mirrored,))
    _, angle, _ = search(128, [angle - 0.25, angle, angle + 0.25], (mirrored,))
    turned, cover = turn(np.ascontiguousarray(rb[:, ::-1] if mirrored else rb), angle, (h, w))
    d, seen = _refined(a, turned, cover)
    return d, "rotated", 0, float(cover.mean()), angle, seen, mirrored


@lru_cache(maxsize=1024)
def _turned_cover(h: int, w: int, angle: float) -> NDArray[np.bool_]:
    """Where an ``h`` x ``w`` picture turned by ``angle`` degrees about its centre still
    covers (less a pixel's edge), read-only: the same for every pair of one size, so it
    is made once."""
    import cv2

    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cover = cv2.warpAffine(np.ones((h, w), np.uint8), m, (w, h), flags=cv2.INTER_NEAREST)
    out = cv2.erode(cover, np.ones((3, 3), np.uint8)).astype(bool)
    out.flags.writeable = False
    return out


def _slide(fa: Fingerprint, fb: Fingerprint) -> Aligned | None:
    """Align a crop: one picture is a part of the other. Where the aspect ratios differ,
    the narrower picture may be a crop of the other's width (scaled to the same height it
    slides sideways) or the wider one a crop of its height; either way, each may also be
    a centred zoom of the other (scaled to 95% ... 75% of it). Template matching finds
    where it fits; the best fit (normalised cross-correlation) is measured. A crop that
    had solid borders trimmed is measured with them (see :func:`_untrimmed`)."""
    prints = (fa, fb)
    rgb = (fa.rgb, fb.rgb)
    tries = _tries(rgb[0].shape[:2], rgb[1].shape[:2])
    # every try on quarter-size greys, where a crop that is one picture with the other
    # comes close already (else none is: the pair is no crop); the best few again on
    # half-size ones around where they fitted, the best two at full size
    first, close = _coarse_fits(fa, fb, tries)
    if first and close > SLIDE_GATE:
        return None
    (grey_a, half_a), (grey_b, half_b) = fa.greys(), fb.greys()  # matched in grey
    greys, halves = (grey_a, grey_b), (half_a, half_b)
    rough = _fits(
        (_fit_crop(halves[c], halves[w], s, level=2, near=(2 * x, 2 * y)), c, w, s)
        for _, c, w, s, (x, y, _, _) in first[:3]
    )
    # a flat picture fits anywhere on small greys, and maybe nowhere near where it fitted
    # there: every try is searched all over (a picture with detail fits where it fitted)
    flat = min(float(fa.coarse().std()), float(fb.coarse().std())) < FLAT
    if not rough and flat:
        rough = _fits((_fit_crop(halves[c], halves[w], s, level=2), c, w, s) for c, w, s in tries)
    fine = _fits(
        (_fit_crop(greys[c], greys[w], s, near=(2 * x, 2 * y)), c, w, s)
        for _, c, w, s, (x, y, _, _) in sorted(rough, reverse=True)[:2]
    )
    if not fine and rough and flat:  # nor at full size: every try at full size
        fine = _fits((_fit_crop(greys[c], greys[w], s), c, w, s) for c, w, s in tries)
    if not fine:
        return None
    _, crop, whole, _, (x, y, w, h) = max(fine, key=lambda f: f[0])  # the first best
    if prints[crop].trimmed:
        return _untrimmed(prints[crop], prints[whole], (x, y, w, h))
    scaled = _resize(rgb[crop], (h, w))
    hw, ww = rgb[whole].shape[:2]
    region = rgb[whole][y : y + h, x : x + w]
    overlap = (h * w) / (hw * ww)
    d, seen = _refined(region, scaled, np.ones((h, w), bool))
    return d, "slid", 0, overlap, 0.0, seen, False


def _tries(*shapes: tuple[int, int]) -> list[tuple[int, int, float]]:
    """The crops the slide tries for two pictures of these (height, width): (crop, whole,
    scale), 0 for the first picture, 1 for the second (see :func:`_slide`)."""
    ra, rb = (w / h for h, w in shapes)
    tries: list[tuple[int, int, float]] = []
    if abs(math.log(ra / rb)) >= 0.05:
        narrow, wide = (0, 1) if ra < rb else (1, 0)
        tries += [
            (narrow, wide, shapes[wide][0] / shapes[narrow][0]),
            (wide, narrow, shapes[narrow][1] / shapes[wide][1]),
        ]
    for crop, whole in ((1, 0), (0, 1)):
        fit = min(shapes[whole][0] / shapes[crop][0], shapes[whole][1] / shapes[crop][1])
        tries += [(crop, whole, fit * z) for z in (0.95, 0.9, 0.85, 0.8, 0.75)]
    return tries


def _coarse_fits(
    fa: Fingerprint, fb: Fingerprint, tries: list[tuple[int, int, float]]
) -> tuple[list[Fit], float]:
    """Every try on the quarter-size greys, the best first, and how close the best three
    come (:func:`_rough`; 9 where none fits; the first within :data:`SLIDE_GATE` ends
    the count, as that is all the gate asks)."""
    coarse = (fa.coarse(), fb.coarse())
    first = _fits((_fit_crop(coarse[c], coarse[w], s, level=4), c, w, s) for c, w, s in tries)
    first.sort(key=lambda f: f[0], reverse=True)
    close = 9.0
    for _, c, w, _, place in first[:3]:
        close = min(close, _rough(coarse[c], coarse[w], place))
        if close <= SLIDE_GATE:
            break
    return first, close


#: A crop's fit: (correlation peak, crop, whole, scale, (x, y, width, height)).
Fit = tuple[float, int, int, float, tuple[int, int, int, int]]


def _fits(
    found: Iterable[tuple[tuple[float, tuple[int, int, int, int]] | None, int, int, float]],
) -> list[Fit]:
    """The fits :func:`_fit_crop` found, each with its try (crop, whole, scale)."""
    return [(f[0], crop, whole, scale, f[1]) for f, crop, whole, scale in found if f is not None]


def _untrimmed(
    crop: Fingerprint, whole: Fingerprint, place: tuple[int, int, int, int]
) -> Aligned | None:
    """Measure a crop found for a trimmed picture over its whole untrimmed extent: its
    solid borders must also be in the other picture where they land. A picture on a plain
    background is otherwise "a crop" of the same picture with an object added on that
    background (a product shot with a sticker), and the slide never sees the object."""
    x, y, w, h = place
    ch, cw = crop.box[2:]
    sy, sx = h / ch, w / cw  # the crop's scale, and where its untrimmed picture lands
    fh, fw = crop.pixels.shape[:2]
    top = whole.offset[0] + y - crop.offset[0] * sy
    left = whole.offset[1] + x - crop.offset[1] * sx
    size = (max(1, round(fh * sy)), max(1, round(fw * sx)))
    scaled = _resize(crop.full, size)
    t, lft = round(top), round(left)
    wh, ww = whole.pixels.shape[:2]
    r0, c0 = max(0, t), max(0, lft)
    r1, c1 = min(wh, t + size[0]), min(ww, lft + size[1])
    if r1 - r0 < 8 or c1 - c0 < 8:
        return None
    region = whole.full[r0:r1, c0:c1]
    part = scaled[r0 - t : r1 - t, c0 - lft : c1 - lft]
    overlap = ((r1 - r0) * (c1 - c0)) / (wh * ww)
    d, seen = _refined(region, part, np.ones(part.shape[:2], bool))
    return d, "slid", 0, overlap, 0.0, seen, False


#: A crop's correlation peak must reach this to count as found; on the half-size
#: greys, where detail is blurred, a little less keeps a true fit in the running (on
#: the quarter-size ones, any peak does: :data:`SLIDE_GATE` judges those).
FIT_FLOOR = 0.5
ROUGH_FLOOR = 0.45
#: The slide goes on past its quarter-size search only where one of the three best fits
#: there differs by at most this (:func:`_rough`): 25% above the most that any crop
#: admitted on the calibration half of the near-duplicate set needed (0.39).
SLIDE_GATE = 0.49
#: How far (px, full size) around its half-size place a fit is looked for again.
NEAR = 4
#: A grey-level spread under this is none (what resampling a flat picture leaves in
#: floats): correlation is 0 / 0 there, which OpenCV reads as 1 before 4.14 and as 0
#: since, so the fit is not left to it.
NO_SPREAD = 1e-3


def _flat(g: NDArray[np.float32]) -> bool:
    """Whether a grey picture has no spread at all (:data:`NO_SPREAD`; in OpenCV, as the
    slide calls this for every try)."""
    import cv2

    return float(cv2.meanStdDev(g)[1][0, 0]) < NO_SPREAD


def _fit_crop(
    crop: NDArray[np.float32],
    whole: NDArray[np.float32],
    scale: float,
    *,
    level: int = 1,
    near: tuple[int, int] | None = None,
) -> tuple[float, tuple[int, int, int, int]] | None:
    """Where ``crop`` (grey), scaled by ``scale``, fits best inside ``whole`` (grey): the
    correlation peak and the place (x, y, width, height) it covers. With ``near`` (x, y),
    only places within :data:`NEAR` px of it are tried; ``level``: on greys 1, 2 or 4
    times smaller than the thumbnail (on smaller ones, less must match: see the floors)."""
    import cv2

    hc, wc = crop.shape[:2]
    hw, ww = whole.shape[:2]
    w, h = max(1, round(wc * scale)), max(1, round(hc * scale))
    if level > 1:  # a crop that fills the whole at full size may round a pixel over it
        w, h = (ww if ww < w <= ww + level // 2 else w), (hw if hw < h <= hw + level // 2 else h)
    if h > hw or w > ww or min(h, w) < (4 if level == 4 else 8):
        return None
    scaled = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)
    x0 = y0 = 0
    if near is not None:  # a window of the whole picture around the place
        x0, y0 = max(0, min(near[0] - NEAR, ww - w)), max(0, min(near[1] - NEAR, hw - h))
        x1, y1 = min(ww, x0 + w + 2 * NEAR), min(hw, y0 + h + 2 * NEAR)
        whole = whole[y0:y1, x0:x1]
    if _flat(scaled) and _flat(whole):
        return 1.0, (x0, y0, w, h)  # nothing to correlate: a flat crop fits anywhere
    score = cv2.matchTemplate(whole, scaled, cv2.TM_CCOEFF_NORMED)
    _, peak, _, (x, y) = cv2.minMaxLoc(score)
    if level < 4 and peak < (ROUGH_FLOOR if level == 2 else FIT_FLOOR):
        return None
    return float(peak), (x0 + x, y0 + y, w, h)


def _rough(
    crop: NDArray[np.float32], whole: NDArray[np.float32], place: tuple[int, int, int, int]
) -> float:
    """How much ``crop`` (grey), scaled to ``place`` (x, y, width, height) in ``whole``,
    differs there: the mean difference of the normalised grey levels, both lightly
    blurred first (a fit on whole pixels of a 64-px grey is up to half a pixel off, which
    a fine texture would read as a difference)."""
    import cv2

    x, y, w, h = place
    a = cv2.GaussianBlur(_resize(crop, (h, w)), (0, 0), 0.7)
    b = cv2.GaussianBlur(np.ascontiguousarray(whole[y : y + h, x : x + w]), (0, 0), 0.7)
    return float(np.abs(_normalised(a, None) - _normalised(b, None)).mean())


@dataclass(frozen=True)
class Rule:
    """The limits a pair's signals must stay within to be called one picture: they were
    fitted on the calibration half of the near-duplicate set for the best recall at the
    precision asked for."""

    difference: float
    local: float
    fine: float
    colour: float
    #: A region or detail that differs is excused when the change is a thin overlay that
    #: moves one way (a watermark): ``sign`` at least this, ``solid`` at most ``solid``.
    #: None: no excuse (tiny pictures, and rules saved before there was one).
    sign: float | None = None
    solid: float | None = None
    #: Colourfulness may change by at most this share (None: no limit, as in old rules).
    chroma: float | None = None
    #: The mean grey level may change by at most this (|log| of the ratio); None: no limit.
    tone: float | None = None
    #: The largest difference in a small window (a changed digit); None: no limit.
    patch: float | None = None
    #: How much more the most changed small window may differ than the whole
    #: (:attr:`PairSignals.focus`); None: no limit.
    focus: float | None = None
    #: An alignment must cover at least this share of the larger picture (a crop that
    #: leaves out where two pictures differ proves nothing); None: no limit.
    overlap: float | None = None
    #: An overlay excused may turn the hue of the pixels it changes by at most this many
    #: degrees on average (a white, grey or black watermark turns none); None: no limit.
    turn: float | None = None
    #: The overlap's hue may turn by at most this many degrees (median; a colour grade
    #: turns it a little, a recolouring a lot); None: no limit.
    hue: float | None = None
    #: An overlay excused must move the grey levels around its most changed cell one way
    #: on the whole: ``net`` at least this (an object in the colours of what it covers
    #: keeps their mean, and its changes cancel); None: no limit.
    net: float | None = None
    #: Where one spot stands out (``focus`` above :data:`SPOT`), the pictures' grey levels
    #: there must correlate at least this much (``likeness``: a copy shows the same edge
    #: or texture, an object blended in another one); None: no limit.
    likeness: float | None = None
    #: An overlay excused must leave the picture beneath it between its strokes: ``body``
    #: at most this (an opaque object touches every pixel it covers); None: no limit.
    body: float | None = None
    #: Where one spot stands out in a pair that passes every other limit (``focus`` above
    #: :data:`SPOT`), what the network sees there may move at most this much
    #: (``semantic``: a copy shows the same thing, blurred or noisier; an object blended
    #: in shows another, however faint its pixels); None: no limit.
    semantic: float | None = None

    def overlay(self, s: PairSignals) -> bool:
        """Whether the pair's change looks like an overlay this rule excuses."""
        if self.sign is None or self.solid is None or s.small:
            return False
        hue_kept = self.turn is None or s.turn <= self.turn
        one_way = self.net is None or s.net >= self.net or s.retoned
        see_through = self.body is None or s.body <= self.body
        thin = s.sign >= self.sign and s.solid <= self.solid
        return thin and hue_kept and one_way and see_through

    def regional(self, s: PairSignals) -> bool:
        """Whether a region or a detail of the pair differs beyond the limits."""
        limits = ((getattr(s, name), getattr(self, name)) for name in REGIONAL)
        return any(limit is not None and value > limit for value, limit in limits)

    def replaced(self, s: PairSignals) -> bool:
        """Whether one spot stands out (``focus`` above :data:`SPOT`) and shows other
        content there (``likeness`` under the limit, or ``semantic`` over it where it was
        measured), not as a thin overlay nor in a picture whose whole tone changed: an
        object blended into the picture."""
        other = (self.likeness is not None and s.likeness < self.likeness) or (
            self.semantic is not None and s.semantic is not None and s.semantic > self.semantic
        )
        return other and self.stands_out(s)

    def stands_out(self, s: PairSignals) -> bool:
        """Whether one spot of the pair stands out (``focus`` above :data:`SPOT`), and not
        as a thin overlay this rule excuses nor in a picture whose whole tone changed:
        where :meth:`replaced` asks what that spot shows."""
        return s.focus > SPOT and not s.retoned and not self.overlay(s)

    def local_edit(self, s: PairSignals) -> bool:
        """Whether one spot of the pair differs beyond the ``focus`` limit while the rest
        agrees, and not as a thin overlay, or shows other content (:meth:`replaced`) in
        a pair that passes every other limit: an edit that makes another picture."""
        if self.focus is not None and s.focus > self.focus and not self.overlay(s):
            return True
        return self.replaced(s) and not replace(self, likeness=None, semantic=None).exceeded(s)

    def exceeded(self, s: PairSignals) -> list[str]:
        """What the pair fails, in words (empty: it is one picture)."""
        out = []
        if s.aligned == "none":
            out.append("could not be aligned")
        excused = self.overlay(s)
        for name, value, limit, words in (  # a limit of None is no limit
            ("difference", s.difference, self.difference, "pixels differ"),
            ("local", s.local, self.local, "a region differs"),
            ("fine", s.fine, self.fine, "a detail differs"),
            ("colour", s.colour, self.colour, "colours differ"),
            ("patch", s.patch, self.patch, "a small patch differs"),
            ("focus", s.focus, self.focus, "one spot differs, the rest not"),
            ("chroma", s.chroma, self.chroma, "colourfulness differs"),
            ("hue", s.hue, self.hue, "hues turned"),
            ("tone", s.tone, self.tone, "brightness differs"),
        ):
            if limit is not None and value > limit and not (name in REGIONAL and excused):
                out.append(f"{words} ({name} {value:.2f} > {limit:.2f})")
        if self.replaced(s):
            if self.likeness is not None and s.likeness < self.likeness:
                out.append(
                    f"one spot shows other content (likeness {s.likeness:.2f} < "
                    f"{self.likeness:.2f} where focus {s.focus:.1f} > {SPOT:g})"
                )
            else:
                out.append(
                    f"one spot shows something else to the network (semantic "
                    f"{s.semantic:.2f} > {self.semantic:.2f} where focus {s.focus:.1f} > {SPOT:g})"
                )
        if self.overlap is not None and s.aligned != "none" and s.overlap < self.overlap:
            out.append(f"too little overlaps (overlap {s.overlap:.0%} < {self.overlap:.0%})")
        if self.regional(s) and not excused and self.sign is not None:
            turned = f", hue turned {s.turn:.0f} degrees" if self.turn is not None else ""
            net = f", net {s.net:.2f}" if self.net is not None else ""
            body = f", body {s.body:.2f}" if self.body is not None else ""
            out.append(
                f"not a thin overlay (sign {s.sign:.2f}, solid {s.solid:.2f}{turned}{net}{body})"
            )
        return out


#: The kinds of pair a rule of its own may judge, the most particular first: a tiny picture
#: (detail below its size means nothing), two small ones (icons, product shots: a thin
#: overlay or a recolouring is another drawing), two in the same framing (as they are or
#: mirrored: no alignment error to allow for), and the rest (aligned as a crop, by
#: features or by a turn), which the ``regular`` rule judges.
KINDS = ("tiny", "small", "framed", "regular")


def pair_kind(s: PairSignals) -> str:
    """Which of :data:`KINDS` a measured pair is."""
    if s.tiny:
        return "tiny"
    if s.small:
        return "small"
    return "framed" if s.same_framing else "regular"


@dataclass(frozen=True)
class Rules:
    """One rule for each kind of pair (:data:`KINDS`). ``small`` and ``framed`` may be
    None (too few pairs of the kind to fit one, or rules saved before they existed): the
    ``regular`` rule judges those pairs then."""

    regular: Rule
    tiny: Rule
    small: Rule | None = None
    framed: Rule | None = None

    def kind_for(self, s: PairSignals) -> str:
        """The kind whose rule judges this pair."""
        kind = pair_kind(s)
        return kind if getattr(self, kind) is not None else "regular"

    def for_pair(self, s: PairSignals) -> Rule:
        """The rule that judges this pair."""
        rule = getattr(self, self.kind_for(s))
        assert rule is not None
        return rule

    def named(self) -> dict[str, Rule]:
        """The rules there are, by kind."""
        return {k: r for k in KINDS if (r := getattr(self, k)) is not None}

    def to_dict(self) -> dict[str, Any]:
        """Plain data, by kind (a kind without its own rule is left out)."""
        return {k: asdict(r) for k, r in self.named().items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rules:
        """Rules from :meth:`to_dict`'s data (other keys are ignored)."""
        return cls(**{k: Rule(**data[k]) for k in KINDS if data.get(k) is not None})


@dataclass(frozen=True)
class Verdict:
    """The decision on one pair and why."""

    same: bool
    signals: PairSignals
    reason: str
    #: Shown to be two pictures: in the same framing, alike but for one spot edited
    #: (:meth:`Rule.local_edit`: two captions on one photo; never said of a tiny picture,
    #: whose spots mean little, nor of two small ones, where one spot that differs may be
    #: resampling at a hard edge (a 70% and a half-size copy of a 320-px drawing), nor of
    #: a pair whose whole tone changed, :data:`BRIGHTENED`, which is not alike elsewhere).
    #: Such a pair never shares a group, even where both are one picture with a third.
    distinct: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return {
            "same": self.same,
            "reason": self.reason,
            "distinct": self.distinct,
            **self.signals.to_dict(),
        }


def wants_semantic(rules: Rules, s: PairSignals) -> bool:
    """Whether the pair is one the rules would call one picture although one spot stands
    out in it, and its rule asks what the network sees there (``semantic``) before it
    does: same framing, ordinary size, no excused overlay, and not measured yet. Few
    pairs are (on the photo library, 1 in 1,500 candidates), as it costs two passes
    through the network."""
    rule = rules.for_pair(s)
    return (
        rule.semantic is not None
        and s.semantic is None
        and s.same_framing
        and not s.tiny
        and not s.small
        and rule.stands_out(s)
        and not rule.exceeded(s)
    )


def measure_semantic(fa: Fingerprint, fb: Fingerprint, s: PairSignals) -> PairSignals:
    """``s`` with ``semantic`` measured: the pair aligned again in its framing (as
    :func:`compare` aligned it), both pictures read by the network
    (:func:`~lookalike.encoders.efficientnet.stage_cells`: EfficientNet-Lite0 at the end
    of its stride-16 stage), and the largest cosine distance between what it sees in one
    cell of each, inside the ring of cells along the picture's edge (there the network
    sees its own padding and whatever a trim left of a border: a letterboxed copy of the
    calibration half read 0.65 on its edge, 0.45 inside). A re-coded, resized or
    re-graded copy moves every cell a little; an object blended in, even one in the
    colours and contrast of what it covers, moves the cells it covers a lot, as the
    network reads its shape and texture, not its mean."""
    from lookalike.encoders.efficientnet import stage_cells

    same = _same_framing(fa, fb, False)
    if same is None or same[3] != s.aligned:  # not aligned as measured: nothing to add
        return s
    ma, mb = stage_cells([same[1], np.ascontiguousarray(same[2])])
    dot = (ma * mb).sum(axis=0)
    norms = np.linalg.norm(ma, axis=0) * np.linalg.norm(mb, axis=0)
    distance = 1.0 - dot / np.maximum(norms, 1e-6)
    if min(distance.shape) >= 3:
        distance = distance[1:-1, 1:-1]
    return replace(s, semantic=float(distance.max()))


def judge_pair(rules: Rules, s: PairSignals) -> Verdict:
    """The verdict of ``rules`` on measured signals, with a reason a user can read."""
    how = {
        "direct": "same framing",
        "mirrored": "mirrored",
        "slid": f"a crop ({s.overlap:.0%} of the larger)",
        "features": f"{s.inliers} geometric inliers, {s.overlap:.0%} overlap",
        "rotated": f"{'mirrored and ' if s.flipped else ''}turned {abs(s.angle):g} degrees, "
        f"{s.overlap:.0%} overlap",
        "none": "not aligned",
    }[s.aligned]
    rule = rules.for_pair(s)
    failed = rule.exceeded(s)
    text = (
        f"cosine {s.cosine:.3f}, {how}, difference {s.difference:.2f}, local {s.local:.2f}, "
        f"fine {s.fine:.2f}, colour {s.colour:.2f}, hue {s.hue:.0f}°, chroma {s.chroma:.2f}, "
        f"tone {s.tone:.2f}"
    )
    if not failed:
        if rule.regional(s) and rule.overlay(s):
            text += f"; a watermark-like overlay (sign {s.sign:.2f}, solid {s.solid:.2f})"
        return Verdict(True, s, f"one picture: {text}")
    distinct = (
        not s.tiny and not s.small and s.same_framing and not s.retoned and rule.local_edit(s)
    )
    return Verdict(False, s, f"not a copy: {'; '.join(failed)}; {text}", distinct)


def signals_text(s: PairSignals) -> str:
    """A pair's signals as JSON text without its cosine (which belongs to a vector set,
    not to the pixels), exact to the last bit: ``PairSignals(cosine, **json.loads(t))``
    gives them back."""
    data = asdict(s)
    del data["cosine"]
    return json.dumps(data)
