"""Which member of a group to keep, by a stated policy, with the reason for each choice.

``original`` (the default) looks for the source picture the others were copied from:

1. the most pixels of picture content (solid borders and letterbox bars do not count,
   nor a plain ground inside them; counts within 10% tie), so a downscaled or cropped
   copy never wins. Copies of one size verified in the same framing count the largest
   share of content among them (a grouping passes them so): they show one picture, and
   a watermark on a plain ground only widens the box the ground is trimmed to. Tiny
   pictures (at most 64 px) count the file's pixels, within 20%: on them a lossy
   re-encode's ringing on the background passes for content;
2. among pictures of at most 256 px, no lossy copy: a member from which a strong JPEG
   re-encode (quality 30) removes less than 40% of the detail it removes from the most
   detailed member has been through lossy compression already (a JPEG or WebP copy);
3. then the best-connected member: the smallest summed pixel difference to the others
   left (where the verifier compared them; else the highest summed cosine similarity),
   since each copy is the original plus one change, and two copies differ by two;
4. then no added border (letterbox bars), camera EXIF data present, the earlier file
   time, the better format (lossless PNG/TIFF/BMP, then HEIF/WebP, then JPEG, then GIF),
   the larger file, and the sharper picture (variance of the Laplacian of a 256-px grey
   copy).

Each step was kept because it raised the share of groups that keep the original on the
calibration half of ``lookalike evaluate-groups --set hard`` (docs/grouping.md).

Other policies: ``largest`` (pixels, then file size), ``newest`` and ``oldest`` (file
time), and ``path:PATTERN`` (prefer members whose path matches the glob, e.g.
``path:*/originals/*``; the original rule decides among them).
"""

from __future__ import annotations

import fnmatch
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from lookalike.errors import InvalidOptionError
from lookalike.grouping.verify import TINY

FORMAT_RANK = {"PNG": 5, "TIFF": 5, "BMP": 4, "HEIF": 3, "WEBP": 3, "JPEG": 2, "MPO": 2, "GIF": 1}
POLICIES = ("original", "largest", "newest", "oldest", "path:PATTERN")
DEFAULT_POLICY = "original"
#: Pixel counts within this share of the largest count as equal (re-encoded copies of
#: small pictures trim a pixel row differently; a downscaled copy has half the pixels or
#: fewer, a crop 85% at most of the picture's area).
PIXEL_TIE = 0.1
#: Tiny pictures (shorter side under verify.TINY) have pixel counts that tie within
#: TINY_TIE (their copies in the calibration set are re-encodes, borders and downscales
#: to 70%, so 20% separates the last).
TINY_TIE = 0.2
#: Largest side (pixels) up to which the lossy-copy step runs on the decoded thumbnail.
DETAIL_SIDE = 256
#: A member with less than this share of the most detailed member's detail is a lossy
#: copy (fitted on the calibration half: 0.3 to 0.8 tried).
LOSSY_SHARE = 0.4

KEEP_RULE = (
    "keep the source picture: the most pixels of content (borders not counted, 10% "
    "tolerance), no lossy copy of a small picture, then the member closest to the others, "
    "then no added border, camera EXIF, the earlier file time, the better format, the "
    "larger file, the sharper picture"
)
RULES = {
    "original": KEEP_RULE,
    "largest": "keep the image with the most pixels, then the larger file",
    "newest": "keep the most recently modified file",
    "oldest": "keep the earliest modified file",
}


@dataclass(frozen=True)
class Candidate:
    """What the keep rule knows of one member."""

    path: Path
    width: int | None
    height: int | None
    size: int
    format: str | None
    content: float = 1.0  # share of the picture that is content, not solid border
    #: detail a JPEG quality-30 re-encode removes (see :func:`detail`); None if unknown
    detail: float | None = None

    @property
    def tiny(self) -> bool:
        """A picture of at most 64 px on its shorter side."""
        return min(self.width or 0, self.height or 0) < TINY

    @property
    def pixels(self) -> float:
        """Pixels of picture content (the file's pixels for a tiny picture)."""
        area = (self.width or 0) * (self.height or 0)
        return area if self.tiny else area * self.content


def detail(rgb: np.ndarray) -> float:
    """Mean grey-level change a JPEG quality-30 re-encode makes to ``rgb`` (uint8 or
    float 0..255): small for a picture that has been through lossy compression already,
    whose fine detail is gone."""
    a = np.clip(np.asarray(rgb, np.float32), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "JPEG", quality=30)
    b = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), np.float32)
    return float(np.abs(a.astype(np.float32) - b).mean())


def describe(policy: str) -> str:
    """The rule a policy applies, in words."""
    check_policy(policy)
    if policy.startswith("path:"):
        return f"keep a file matching {policy[5:]!r}; among those, " + KEEP_RULE[5:]
    return RULES[policy]


def check_policy(policy: str) -> str:
    """``policy`` if lookalike knows it (a typed error naming the choices otherwise)."""
    if policy in RULES or (policy.startswith("path:") and len(policy) > 5):
        return policy
    raise InvalidOptionError(f"--keep must be one of {', '.join(POLICIES)}, not {policy!r}")


def sharpness(path: Path) -> float:
    """Variance of the Laplacian of a small grey copy: higher is sharper (0 if unreadable)."""
    try:
        with Image.open(path) as im:
            im.draft("L", (256, 256))
            grey = ImageOps.exif_transpose(im).convert("L")
            grey.thumbnail((256, 256))
            a = np.asarray(grey, dtype=np.float32)
    except Exception:
        return 0.0
    if a.shape[0] < 3 or a.shape[1] < 3:
        return 0.0
    lap = a[1:-1, :-2] + a[1:-1, 2:] + a[:-2, 1:-1] + a[2:, 1:-1] - 4 * a[1:-1, 1:-1]
    return float(lap.var())


def has_camera_exif(path: Path) -> bool:
    """Whether the file names the camera that took it (EXIF make or model)."""
    try:
        with Image.open(path) as im:
            exif = im.getexif()
            return bool(exif.get(0x010F) or exif.get(0x0110))
    except Exception:
        return False


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return float("inf")


def _best(indices: list[int], key: Callable[[int], Any]) -> list[int]:
    """The indices whose ``key`` is the largest."""
    values = {i: key(i) for i in indices}
    top = max(values.values())
    return [i for i in indices if values[i] == top]


def choose_keep(
    members: Sequence[Candidate],
    policy: str = DEFAULT_POLICY,
    closeness: np.ndarray | None = None,
) -> tuple[int, str]:
    """Index of the member to keep, and why (in words). ``closeness[i, j]`` says how
    close members ``i`` and ``j`` are (higher is closer: a negated pixel difference or a
    cosine similarity); without it the connectivity step is skipped."""
    check_policy(policy)
    ids = list(range(len(members)))
    if policy == "newest":
        return max(ids, key=lambda i: _mtime(members[i].path)), "the most recently modified"
    if policy == "oldest":
        return min(ids, key=lambda i: _mtime(members[i].path)), "the earliest modified"
    if policy == "largest":
        m = members
        best = max(ids, key=lambda i: ((m[i].width or 0) * (m[i].height or 0), m[i].size))
        return best, "the most pixels, then the larger file"
    why = []
    if policy.startswith("path:"):
        pattern = policy[5:]
        matching = [i for i in ids if fnmatch.fnmatch(str(members[i].path), pattern)]
        if matching:
            ids = matching
            why.append(f"matches {pattern!r}")
    return _original(members, ids, why, closeness)


def _original(
    members: Sequence[Candidate], ids: list[int], why: list[str], closeness: np.ndarray | None
) -> tuple[int, str]:
    top = max(members[i].pixels for i in ids)
    tie = TINY_TIE if all(members[i].tiny for i in ids) else PIXEL_TIE
    ids = [i for i in ids if members[i].pixels >= (1 - tie) * top]
    if len(ids) == 1:
        return ids[0], ", ".join([*why, "the most pixels"])
    why.append("as many pixels as any")
    details = {i: members[i].detail for i in ids}
    known = {i: d for i, d in details.items() if d is not None}
    if len(known) == len(ids) and max(known.values()) > 0:
        most = max(known.values())
        ids = [i for i in ids if known[i] >= LOSSY_SHARE * most]
        if len(ids) == 1:
            return ids[0], ", ".join([*why, "not a lossy copy"])
    left = list(ids)

    def connected(i: int) -> float:
        return 0.0 if closeness is None else round(sum(closeness[i, j] for j in left if j != i), 3)

    steps = (
        ("the closest to the others", connected),
        ("no added border", lambda i: round(members[i].content, 2) >= 0.99),
        ("camera EXIF", lambda i: has_camera_exif(members[i].path)),
        ("the earlier file time", lambda i: -_mtime(members[i].path)),
        ("the better format", lambda i: FORMAT_RANK.get((members[i].format or "").upper(), 0)),
        ("the larger file", lambda i: members[i].size),
        ("the sharper picture", lambda i: sharpness(members[i].path)),
    )
    for words, key in steps:
        ids = _best(ids, key)
        if len(ids) == 1:
            return ids[0], ", ".join([*why, words])
    return ids[0], ", ".join([*why, "the first by path"])
