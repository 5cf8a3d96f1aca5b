"""Where the near-duplicate calibration set's originals come from, each source with the
hard negatives it naturally has: scikit-image's photos, Debian's wallpapers (photos and
artwork, with GNOME's day and night pairs), Fashion-MNIST items (with their nearest
look-alike item) and cryptocurrency icons (each coin in other drawing styles)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from lookalike.datasets.duplicate_set import Picture, fit_large, nearest_other
from lookalike.datasets.fetch import deb_package, fashion_images, npm_package
from lookalike.datasets.sample import SAMPLE_PHOTOS, sample_photo
from lookalike.errors import MissingExtraError

#: Debian packages of desktop wallpapers (photos and artwork at 1280 to 4096 px).
WALLPAPER_PACKAGES = (
    "mate-backgrounds",
    "ukui-wallpapers",
    "gnome-backgrounds",
    "sway-backgrounds",
    "lomiri-wallpapers-20.04",
)
#: GNOME ships most pictures in a light and a dark version: ``name-l`` and ``name-d``.
_DAY_NIGHT = re.compile(r"^(?P<stem>.+)-(?P<tone>l|d)$")


def photos() -> Iterator[Picture]:
    """scikit-image's bundled photos (those this installation can load offline)."""
    for name in SAMPLE_PHOTOS:
        try:
            im = sample_photo(name)
        except MissingExtraError:
            raise
        except Exception:  # a photo this scikit-image cannot load offline
            continue
        yield Picture("photos", name, im)


#: A wallpaper shipped in several sizes and framings of one artwork: ``Name_1366x768``,
#: ``Name_768x1024_Portrait``.
_SIZED = re.compile(r"_\d+x\d+(_portrait)?$", re.IGNORECASE)


def _wallpaper_files() -> list[Path]:
    """Each wallpaper once: the same file in two folders, and an artwork shipped at several
    sizes or framings (one picture to a user, not several originals), as its largest."""
    files: dict[str, Path] = {}
    for pkg in WALLPAPER_PACKAGES:
        tree = deb_package(pkg)
        for f in sorted(tree.rglob("*")):
            if f.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp") and f.is_file():
                files.setdefault(f.name, f)
    artworks: dict[str, tuple[int, Path]] = {}
    for f in files.values():
        with Image.open(f) as im:
            area = im.width * im.height
        key = _SIZED.sub("", f.stem)
        if key not in artworks or area > artworks[key][0]:
            artworks[key] = (area, f)
    return sorted((f for _, f in artworks.values()), key=lambda f: f.name)


def wallpapers() -> Iterator[Picture]:
    """Debian's wallpapers; a GNOME picture's dark version is its original's negative."""
    files = _wallpaper_files()
    by_stem = {f.stem: f for f in files}
    done: set[str] = set()
    for f in files:
        if f.stem in done:
            continue
        m = _DAY_NIGHT.match(f.stem)
        pic = Picture("wallpapers", _safe(f.stem), fit_large(_open(f)))
        if m and m["tone"] == "l" and f"{m['stem']}-d" in by_stem:
            night = by_stem[f"{m['stem']}-d"]
            pic.negatives.append(("night", fit_large(_open(night)), "day-night"))
            done.add(night.stem)
        elif m and m["tone"] == "d" and f"{m['stem']}-l" in by_stem:
            continue  # taken as the negative of its light version
        done.add(f.stem)
        yield pic


def fashion(count: int = 600) -> Callable[[], Iterator[Picture]]:
    """The first ``count`` Fashion-MNIST test items, balanced over the ten classes, each
    with its nearest other item of the same class (pixel distance) as a look-alike."""

    def make() -> Iterator[Picture]:
        deb_package("dataset-fashion-mnist")
        items = list(fashion_images("t10k"))
        labels = np.array([label for label, _, _ in items])
        pixels = np.stack([np.asarray(im) for _, _, im in items])
        per_class = max(1, count // len(set(labels.tolist())))
        taken: dict[str, int] = {}
        used: set[int] = set()
        for i, (label, name, im) in enumerate(items):
            if taken.get(label, 0) >= per_class or i in used:
                continue
            same = np.flatnonzero(labels == label)
            same = same[~np.isin(same, list(used))]
            j = nearest_other(pixels, i, same)
            used |= {i, j}
            taken[label] = taken.get(label, 0) + 1
            pic = Picture("fashion", f"{label}-{name[:-4]}", im.convert("RGB"), tiny=True)
            pic.negatives.append(("look-alike", items[j][2].convert("RGB"), "look-alike-item"))
            yield pic

    return make


def crypto(count: int = 400) -> Callable[[], Iterator[Picture]]:
    """The first ``count`` coins: the colour icon at 128 px is the original, its 32-px
    rendering a copy; the flat and black styles are other pictures of the same coin."""

    def make() -> Iterator[Picture]:
        pkg = npm_package("cryptocurrency-icons@0.18.1")
        coins = sorted(p.stem for p in (pkg / "128" / "color").glob("*.png"))[:count]
        for coin in coins:

            def icon(size: str, style: str, coin: str = coin) -> Image.Image:
                rgba = Image.open(pkg / size / style / f"{coin}.png").convert("RGBA")
                bg = Image.new("RGBA", rgba.size, "white")
                bg.alpha_composite(rgba)
                return bg.convert("RGB")

            pic = Picture("crypto", _safe(coin), icon("128", "color"), tiny=True)
            pic.copies.append(("color-32", icon("32", "color"), "icon-32px"))
            pic.negatives += [
                ("style-icon", icon("128", "icon"), "icon-style"),
                ("style-black", icon("128", "black"), "icon-style"),
            ]
            yield pic

    return make


#: Source name -> what makes its pictures, with the default sizes.
SOURCES: dict[str, Callable[[], Iterator[Picture]]] = {
    "photos": photos,
    "wallpapers": wallpapers,
    "fashion": fashion(700),
    "crypto": crypto(483),
}


def _open(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name.lstrip("$"))
