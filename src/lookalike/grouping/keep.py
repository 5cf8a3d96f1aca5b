"""Which member of a group to keep: the stated rule, applied the same everywhere.

Rule: the most pixels wins; on a tie, the larger file; then the better format (lossless
PNG/TIFF/BMP, then HEIF/WebP, then JPEG, then GIF); then the sharper image (variance of
the Laplacian of a 256-px grey copy).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

KEEP_RULE = (
    "keep the image with the most pixels; on a tie the larger file, then the better format "
    "(PNG/TIFF/BMP > HEIF/WebP > JPEG > GIF), then the sharper one (variance of Laplacian)"
)
FORMAT_RANK = {"PNG": 5, "TIFF": 5, "BMP": 4, "HEIF": 3, "WEBP": 3, "JPEG": 2, "MPO": 2, "GIF": 1}


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


def keep_key(
    width: int | None, height: int | None, size: int, fmt: str | None, sharp: float
) -> tuple[int, int, int, float]:
    """Sort key of the rule: larger is better."""
    return ((width or 0) * (height or 0), size, FORMAT_RANK.get((fmt or "").upper(), 0), sharp)


def choose_keep(members: Sequence[tuple[Path, int | None, int | None, int, str | None]]) -> int:
    """Index of the member to keep among (path, width, height, size, format) rows."""
    keys = [keep_key(w, h, s, f, 0.0) for _, w, h, s, f in members]
    best = max(keys[i][:3] for i in range(len(keys)))
    tied = [i for i, k in enumerate(keys) if k[:3] == best]
    if len(tied) == 1:
        return tied[0]
    return max(tied, key=lambda i: sharpness(members[i][0]))
