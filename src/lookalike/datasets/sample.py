"""A sample collection built from the photos that ship inside scikit-image (offline).

Layout: ``OUT/<photo>/original.jpg`` plus one file per altered copy, so each folder is a
group of near-duplicates (the layout evaluation reads: one folder, one class).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from lookalike.datasets.variants import TRANSFORMS
from lookalike.errors import LookalikeError, needs_extra
from lookalike.store.atomic import write_bytes_atomic

#: scikit-image sample images that are bundled in its wheel (no download at run time).
SAMPLE_PHOTOS = (
    "astronaut",
    "brick",
    "camera",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "colorwheel",
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
    "logo",
    "moon",
    "page",
    "retina",
    "rocket",
    "stereo_motorcycle",
    "text",
    "cell",
)


@dataclass(frozen=True)
class SampleCollection:
    """Where the sample was written and what it holds."""

    root: Path
    photos: list[str]
    files: int


def sample_photo(name: str) -> Image.Image:
    """One scikit-image sample photo as an RGB image."""
    try:
        import skimage.data as skdata
    except ImportError:
        raise needs_extra("the sample photos come from scikit-image", "samples") from None
    arr = getattr(skdata, name)()
    if isinstance(arr, tuple):  # stereo pairs: take the left view
        arr = arr[0]
    arr = np.asarray(arr)
    if arr.dtype != np.uint8:
        arr = (np.clip(arr, 0, 1) * 255).astype(np.uint8)
    im = Image.fromarray(arr)
    if im.mode == "RGBA":
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, im)
    return im.convert("RGB")


def build_sample(
    out: str | Path, *, photos: tuple[str, ...] = SAMPLE_PHOTOS, variants: bool = True
) -> SampleCollection:
    """Write the sample collection (idempotent: existing files are kept)."""
    root = Path(out)
    written: list[str] = []
    count = 0
    for name in photos:
        try:
            im = sample_photo(name)
        except (OSError, ValueError, AttributeError, ModuleNotFoundError):
            continue  # a photo this scikit-image cannot load offline
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        targets = {"original": im}
        if variants:
            targets.update({v: fn(im) for v, fn in TRANSFORMS.items()})
        for vname, vim in targets.items():
            path = folder / f"{vname}.jpg"
            if not path.exists():
                buf = io.BytesIO()
                vim.save(buf, "JPEG", quality=92)
                write_bytes_atomic(path, buf.getvalue())
            count += 1
        written.append(name)
    if not written:
        raise LookalikeError("no sample photo could be loaded from scikit-image")
    return SampleCollection(root, written, count)
