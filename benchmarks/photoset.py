"""Benchmark photo sets made from scikit-image's bundled photos (offline, cached).

Each image is a random crop of a sample photo, maybe mirrored and recoloured, resized to
the target size and saved as a JPEG, so decode costs match real camera files of that size.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from lookalike.config import cache_dir
from lookalike.datasets import SAMPLE_PHOTOS, sample_photo
from lookalike.store import write_bytes_atomic


def photo_set(count: int, size: tuple[int, int], *, seed: int = 0, quality: int = 90) -> Path:
    """A folder of ``count`` JPEGs of ``size`` (width, height); made once, then reused."""
    root = cache_dir() / "bench" / f"photos-{size[0]}x{size[1]}-{count}-s{seed}"
    if root.is_dir() and len(os.listdir(root)) >= count:
        return root
    rng = np.random.default_rng(seed)
    sources = [sample_photo(n) for n in SAMPLE_PHOTOS]
    sources = [s for s in sources if min(s.size) >= 256]
    for i in range(count):
        target = root / f"img-{i:05d}.jpg"
        if target.exists():
            continue
        src = sources[int(rng.integers(len(sources)))]
        w, h = src.size
        cw, ch = int(w * rng.uniform(0.6, 1.0)), int(h * rng.uniform(0.6, 1.0))
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        im = src.crop((x0, y0, x0 + cw, y0 + ch))
        if rng.random() < 0.5:
            im = ImageOps.mirror(im)
        im = ImageEnhance.Color(im).enhance(float(rng.uniform(0.7, 1.3)))
        _save(target, im.resize(size, Image.Resampling.BICUBIC), quality)
    return root


@dataclass(frozen=True)
class LibraryPlan:
    """What a photo library holds, decided before any picture is made: each view's
    source picture and window, and each copy's view and alteration. It is the library's
    ground truth (which files show one picture), and it follows from the seed and the
    sources' sizes alone, so it is recovered for a library made earlier."""

    sources: list[str]  # a name for each source picture
    views: list[tuple[int, tuple[int, int, int, int]]]  # (source, window) of view-i
    copies: list[tuple[int, str]]  # (view, alteration) of copy-i


#: The alterations of the library's copies, in the order the seed picks them.
LIBRARY_ALTERATIONS = ("resized-3/4", "mirrored", "brighter")


def _library_sources() -> list[tuple[str, Image.Image]]:
    from lookalike.datasets.duplicate_sources import _wallpaper_files

    sources = [(f"skimage:{n}", sample_photo(n).convert("RGB")) for n in SAMPLE_PHOTOS]
    sources = [(n, s) for n, s in sources if min(s.size) >= 300]
    for f in _wallpaper_files():
        with Image.open(f) as im:
            im.draft("RGB", (2048, 2048))
            sources.append((Path(f).name, ImageOps.exif_transpose(im).convert("RGB")))
    return sources


def library_plan(
    sizes: list[tuple[int, int]], names: list[str], count: int, seed: int, copies: float
) -> LibraryPlan:
    """The library's plan for sources of these (width, height): views spread over the
    sources by area, windows that overlap little (see :func:`library_set`)."""
    rng = np.random.default_rng(seed)
    n_copies = int(count * copies)
    n_views = count - n_copies
    areas = np.array([w * h for w, h in sizes], float)
    shares = np.maximum(1, np.round(n_views * areas / areas.sum())).astype(int)
    views: list[tuple[int, tuple[int, int, int, int]]] = []
    for s, ((w, h), n) in enumerate(zip(sizes, shares.tolist(), strict=True)):
        placed: list[tuple[int, int, int, int]] = []
        for _ in range(n * 20):
            if len(placed) >= n:
                break
            aspect = float(rng.choice([4 / 3, 3 / 4, 16 / 9, 1.0]))
            area = w * h / n * float(rng.uniform(0.5, 1.0))
            vw = int(min(w, max(160, (area * aspect) ** 0.5)))
            vh = int(min(h, max(160, vw / aspect)))
            x, y = int(rng.integers(0, w - vw + 1)), int(rng.integers(0, h - vh + 1))
            box = (x, y, x + vw, y + vh)
            if all(_shared(box, b) <= 0.3 for b in placed):
                placed.append(box)
        views += [(s, box) for box in placed]
    order = rng.permutation(len(views))[:n_views]
    kept = [views[k] for k in order.tolist()]
    picked = rng.choice(len(kept), size=min(n_copies, len(kept)), replace=False)
    plan_copies = [(int(k), LIBRARY_ALTERATIONS[int(rng.integers(3))]) for k in picked]
    return LibraryPlan(names, kept, plan_copies)


def library_set(count: int = 10_000, *, seed: int = 0, copies: float = 0.05) -> Path:
    """A photo library as a user has one: ``count`` JPEGs, most of them distinct views
    (windows that overlap little) of scikit-image's photos and Debian's wallpapers, so
    neighbouring views of one scene look alike as burst shots do, and a share
    (``copies``) of views with one altered copy (re-saved smaller, mirrored or
    brightened). Each is 640 px on its longer side, so it decodes as a phone photo
    shared on the web does. Made once (it fetches the wallpaper packages), then reused;
    :func:`library_truth` tells which files show one picture.

    The sources are 79 pictures here, so each gives ~120 views at 10,000: a harder
    library than most (many look-alikes to verify) but distinct pictures all the same."""
    root = _library_root(count, seed)
    if (root / ".complete").exists():
        return root
    named = _library_sources()
    sources = [s for _, s in named]
    plan = library_plan([s.size for s in sources], [n for n, _ in named], count, seed, copies)
    root.mkdir(parents=True, exist_ok=True)
    views: list[Image.Image] = []
    for i, (s, box) in enumerate(plan.views):
        im = sources[s].crop(box)  # decoded as a 640-px photo is, whatever the window
        f = 640 / max(im.size)
        im = im.resize((round(im.width * f), round(im.height * f)), Image.Resampling.BICUBIC)
        _save(root / f"view-{i:05d}.jpg", im)
        views.append(im)
    for i, (k, how) in enumerate(plan.copies):
        im = views[k]
        if how == "resized-3/4":
            im = im.resize((max(1, im.width * 3 // 4), max(1, im.height * 3 // 4)))
        elif how == "mirrored":
            im = ImageOps.mirror(im)
        else:
            im = ImageEnhance.Brightness(im).enhance(1.2)
        _save(root / f"copy-{i:05d}.jpg", im, quality=80)
    (root / ".complete").touch()
    return root


def library_truth(count: int = 10_000, *, seed: int = 0, copies: float = 0.05) -> LibraryPlan:
    """The plan of :func:`library_set` for these arguments (its sources are read again
    for their sizes; no picture is made)."""
    named = _library_sources()
    return library_plan([s.size for _, s in named], [n for n, _ in named], count, seed, copies)


def _library_root(count: int, seed: int) -> Path:
    return cache_dir() / "bench" / f"library-{count}-s{seed}"


def _shared(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """The share of the smaller of two boxes that the other covers."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h / small


def _save(path: Path, im: Image.Image, quality: int = 90) -> None:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    write_bytes_atomic(path, buf.getvalue())


if __name__ == "__main__":
    import sys

    print(library_set(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))
