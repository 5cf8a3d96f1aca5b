"""The near-duplicate calibration set: real pictures from several sources, altered copies
with ground truth, and labelled hard negatives, split once into calibration and
validation halves by original (a copy always lives in its original's half).

Layout: ``OUT/<split>/<source>/<original>/<file>`` and ``OUT/truth.json``. Each half is
a collection of its own, so thresholds are fitted on one and reported on the other.
Deterministic: the same sources give the same files and truth on every machine, and a
second build reuses what is there.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from lookalike.datasets.alterations import (
    ALTERATIONS,
    TINY_ALTERATIONS,
    blend_object,
    caption,
    hue_shift,
    paste_object,
)
from lookalike.errors import LookalikeError
from lookalike.store.atomic import write_bytes_atomic

#: Bumped whenever the recipe changes what is written.
RECIPE = 8
#: Blended objects per picture of ordinary size, each cut from another earlier picture.
BLENDS = 3
SPLITS = ("calibration", "validation")
#: Long side of the large pictures (wallpapers are 1280 to 4096 px; photos stay as shipped).
LARGE_SIDE = 1920
#: Formats an alteration is saved in (the rest: JPEG for photos, PNG for tiny pictures).
SAVE_AS = {"webp": ("WEBP", ".webp", {"quality": 75}), "heic": ("HEIF", ".heic", {"quality": 70})}


@dataclass
class Picture:
    """An original from one source, with the negatives that source gives it."""

    source: str
    name: str
    image: Image.Image
    tiny: bool = False
    #: (file stem, picture, negative kind): different pictures that look like this one.
    negatives: list[tuple[str, Image.Image, str]] = field(default_factory=list)
    #: (file stem, picture, alteration): copies that come with the source (icon sizes).
    copies: list[tuple[str, Image.Image, str]] = field(default_factory=list)


@dataclass
class DuplicateSet:
    """The ground truth of one build (paths relative to ``root``)."""

    root: Path
    recipe: int
    groups: list[list[str]] = field(default_factory=list)  # original first, then copies
    alteration: dict[str, str] = field(default_factory=dict)  # copy -> alteration
    negatives: list[tuple[str, str, str]] = field(default_factory=list)  # (a, b, kind)
    singles: list[str] = field(default_factory=list)
    split: dict[str, str] = field(default_factory=dict)  # every file -> its half
    #: (a file of a group, another file): pairs no score counts either way; the pair
    #: stands for the whole group (a captioned version of an original)
    unjudged: list[tuple[str, str]] = field(default_factory=list)
    sources: dict[str, int] = field(default_factory=dict)  # source -> originals

    @property
    def originals(self) -> int:
        """How many originals (pictures with copies, and single pictures)."""
        return sum(self.sources.values())

    def half(self, split: str) -> DuplicateSet:
        """The truth of one half, paths relative to ``root/split``."""
        cut = len(split) + 1

        def mine(p: str) -> bool:
            return self.split.get(p) == split

        return DuplicateSet(
            root=self.root / split,
            recipe=self.recipe,
            groups=[[p[cut:] for p in g] for g in self.groups if mine(g[0])],
            alteration={p[cut:]: a for p, a in self.alteration.items() if mine(p)},
            negatives=[(a[cut:], b[cut:], k) for a, b, k in self.negatives if mine(a)],
            unjudged=[(a[cut:], b[cut:]) for a, b in self.unjudged if mine(a)],
            singles=[p[cut:] for p in self.singles if mine(p)],
            split={p[cut:]: s for p, s in self.split.items() if s == split},
            sources={},
        )

    def to_json(self) -> str:
        """The truth file's text."""
        data = asdict(self)
        data["root"] = str(self.root)
        return json.dumps(data, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DuplicateSet:
        """Read what :meth:`to_json` wrote."""
        data: dict[str, Any] = json.loads(text)
        data["root"] = Path(data["root"])
        data["negatives"] = [tuple(n) for n in data["negatives"]]
        data["unjudged"] = [tuple(n) for n in data.get("unjudged", [])]
        return cls(**data)


def split_of(source: str, name: str) -> str:
    """The half an original belongs to: a stable hash of its name, about 50/50."""
    digest = hashlib.sha1(f"{source}/{name}".encode()).digest()
    return SPLITS[digest[0] & 1]


def _encode(im: Image.Image, tiny: bool, alteration: str | None) -> tuple[bytes, str]:
    buf = io.BytesIO()
    if alteration in SAVE_AS:
        fmt, ext, kw = SAVE_AS[alteration]
        try:
            if fmt == "HEIF":
                import pillow_heif

                pillow_heif.register_heif_opener()
            im.convert("RGB").save(buf, fmt, **kw)
            return buf.getvalue(), ext
        except (ImportError, KeyError, OSError):
            buf = io.BytesIO()
    if tiny:
        im.convert("RGB").save(buf, "PNG")
        return buf.getvalue(), ".png"
    im.convert("RGB").save(buf, "JPEG", quality=92)
    return buf.getvalue(), ".jpg"


def build_duplicate_set(
    out: str | Path,
    sources: dict[str, Callable[[], Iterator[Picture]]],
    *,
    progress: Callable[[int], None] | None = None,
) -> DuplicateSet:
    """Write every source's pictures, copies and negatives under ``out``; returns the truth
    (also written to ``out/truth.json``). Files already there are kept."""
    root = Path(out)
    truth = DuplicateSet(root=root, recipe=RECIPE)
    donors: list[Image.Image] = []  # earlier pictures of ordinary size, latest first

    def write(rel: str, im: Image.Image, tiny: bool, alteration: str | None = None) -> str:
        data, ext = _encode(im, tiny, alteration)
        path = rel + ext
        if not (root / path).exists():
            write_bytes_atomic(root / path, data)
        return path

    seen: list[np.ndarray] = []
    for source, make in sources.items():
        count = 0
        for pic in make():
            if _already(pic.image, seen):  # a picture two packages ship (or one, twice)
                continue
            half = split_of(source, pic.name)
            base = f"{half}/{source}/{pic.name}"
            original = write(f"{base}/original", pic.image, pic.tiny)
            names = TINY_ALTERATIONS if pic.tiny else tuple(ALTERATIONS)
            if pic.tiny:  # three copies each, chosen by a seeded draw
                names = tuple(random.Random(pic.name).sample(names, 3))
            group = [original]
            for alt in names:
                copy = write(f"{base}/{alt}", ALTERATIONS[alt](pic.image), pic.tiny, alt)
                group.append(copy)
                truth.alteration[copy] = alt
            for stem, im, alt in pic.copies:
                copy = write(f"{base}/{stem}", im, pic.tiny)
                group.append(copy)
                truth.alteration[copy] = alt
            negatives = [n for n in pic.negatives if _differs(pic.image, n[1])]
            if not pic.tiny:
                if _colourful(pic.image):  # a grey picture in another hue is the same
                    negatives.append(("hue-shift", hue_shift(pic.image), "hue-shift"))
                pasted = paste_object(pic.image, donors[0]) if donors else None
                if pasted is not None and _visible(pic.image, pasted):
                    negatives.append(("pasted-object", pasted, "pasted-object"))
                # the same disc from each of the last few pictures (recipe 7: three, so
                # that each half holds enough of this hardest kind to fit and to score);
                # two donors that differ only in colour, or outside the disc (a
                # wallpaper's day and night versions), give one picture twice: written
                # once (recipe 8), as two blends that show no difference are no two pictures
                blends: list[Image.Image] = []
                for k, donor in enumerate(donors[:BLENDS]):
                    blended = blend_object(pic.image, donor)
                    shown = [pic.image, *blends]
                    if all(_visible(other, blended) for other in shown):
                        blends.append(blended)
                        stem = "blended-object" + (f"-{k + 1}" if k else "")
                        negatives.append((stem, blended, "blended-object"))
                # Two captions that differ in one digit are two pictures. A captioned
                # version is neither a copy of the original nor clearly another picture
                # (a caption is an overlay, like a watermark): only the pair is judged.
                first = write(f"{base}/caption-1", caption(pic.image, "No. 1"), False)
                second = write(f"{base}/caption-7", caption(pic.image, "No. 7"), False)
                truth.singles += [first, second]
                truth.negatives.append((first, second, "caption"))
                truth.unjudged += [(original, first), (original, second)]
                donors = [pic.image, *donors[: BLENDS - 1]]
            for stem, im, kind in negatives:
                path = write(f"{base}/{stem}", im, pic.tiny)
                truth.singles.append(path)
                truth.negatives.append((original, path, kind))
            truth.groups.append(group)
            count += 1
            if progress:
                progress(count)
        truth.sources[source] = count
    for g in truth.groups:
        for p in g:
            truth.split[p] = p.split("/", 1)[0]
    for p in truth.singles:
        truth.split[p] = p.split("/", 1)[0]
    if not truth.groups:
        raise LookalikeError("no source gave any picture; see `lookalike evaluate-groups --help`")
    named = set(truth.split)
    for half in SPLITS:  # files an earlier recipe wrote and this one does not name
        for f in (root / half).rglob("*") if (root / half).is_dir() else []:
            if f.is_file() and f.relative_to(root).as_posix() not in named:
                f.unlink()
    write_bytes_atomic(root / "truth.json", truth.to_json().encode())
    return truth


def _signature(im: Image.Image) -> np.ndarray:
    """A 24 x 24 colour thumbnail, normalised per channel: equal for one picture at two
    resolutions or brightnesses."""
    a = np.asarray(im.convert("RGB").resize((24, 24), Image.Resampling.BOX), np.float32)
    return (a - a.mean(axis=(0, 1))) / np.maximum(a.std(axis=(0, 1)), 4.0)


def _already(im: Image.Image, seen: list[np.ndarray]) -> bool:
    """Whether ``im`` repeats an original taken before; otherwise remember it."""
    sig = _signature(im)
    if seen and float(np.abs(np.stack(seen) - sig).mean(axis=(1, 2, 3)).min()) < 0.1:
        return True
    seen.append(sig)
    return False


def _differs(a: Image.Image, b: Image.Image) -> bool:
    """Whether two pictures differ visibly (a negative identical to its original, as
    some coins are in two styles, is no negative)."""
    if a.size != b.size:
        return True
    return float(_pixel_diff(a, b).mean()) > 8.0


def _visible(a: Image.Image, b: Image.Image) -> bool:
    """Whether a change of one part shows: at least 0.5% of the pixels moved by more than
    24 levels (a disc cut from a picture of the same colours can vanish into this one)."""
    return float((_pixel_diff(a, b).max(axis=2) > 24).mean()) >= 0.005


def _pixel_diff(a: Image.Image, b: Image.Image) -> np.ndarray:
    """|a - b| per pixel and channel (two pictures of one size)."""
    return np.abs(np.asarray(a.convert("RGB"), np.int16) - np.asarray(b.convert("RGB"), np.int16))


def _colourful(im: Image.Image) -> bool:
    """Mean saturation above 15%: a hue change shows."""
    hsv = np.asarray(im.convert("RGB").convert("HSV"), np.uint8)
    return float(hsv[..., 1].mean()) > 0.15 * 255


def load_duplicate_set(out: str | Path) -> DuplicateSet | None:
    """The truth of a set built before with this recipe, or None."""
    path = Path(out) / "truth.json"
    try:
        truth = DuplicateSet.from_json(path.read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return truth if truth.recipe == RECIPE else None


def fit_large(im: Image.Image, side: int = LARGE_SIDE) -> Image.Image:
    """``im`` in RGB, shrunk so its longer side is at most ``side``."""
    im = im.convert("RGB")
    if max(im.size) > side:
        im = im.copy()
        im.thumbnail((side, side), Image.Resampling.LANCZOS)
    return im


def nearest_other(pixels: np.ndarray, i: int, candidates: np.ndarray) -> int:
    """The candidate row closest to row ``i`` in pixel space (itself excluded)."""
    d = ((pixels[candidates].astype(np.float32) - pixels[i].astype(np.float32)) ** 2).sum(
        axis=tuple(range(1, pixels.ndim))
    )
    d[candidates == i] = np.inf
    return int(candidates[int(np.argmin(d))])
