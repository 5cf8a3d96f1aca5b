"""Alterations that keep a picture the same picture, and hard negatives that make it
another one: the ground truth of the near-duplicate calibration set.

Copies (a user would call them duplicates): the seven of the sample set plus a re-save at
another resolution, an aspect crop, a border, colour grading, mild noise, WebP and HEIC
re-encodes and a 64-pixel thumbnail.

Hard negatives (different pictures that look alike): a hue change (the same drawing in
another colour), an object pasted into the composition (as it is, or blended: in the
colours of what it covers), a changed caption.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

from lookalike.datasets.variants import TRANSFORMS
from lookalike.imageio.fonts import load_font

Transform = Callable[[Image.Image], Image.Image]


def _reencode(im: Image.Image, fmt: str, **kw: object) -> Image.Image:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, fmt, **kw)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def resave(im: Image.Image) -> Image.Image:
    """Saved again at 70% of the size, JPEG quality 85 (a web export)."""
    w, h = max(1, round(im.width * 0.7)), max(1, round(im.height * 0.7))
    return _reencode(im.resize((w, h), Image.Resampling.BICUBIC), "JPEG", quality=85)


def aspect_crop(im: Image.Image) -> Image.Image:
    """A 4:3 crop of a wide picture (16:9 -> 4:3), or a 16:9 crop of a tall or square one."""
    w, h = im.size
    if w / h > 4 / 3:
        nw = round(h * 4 / 3)
        x = (w - nw) // 2
        return im.crop((x, 0, x + nw, h))
    nh = round(w * 9 / 16)
    y = (h - nh) // 2
    return im.crop((0, y, w, y + nh))


def border(im: Image.Image) -> Image.Image:
    """Letterboxed: black bars above and below, 8% of the height each."""
    pad = max(1, round(im.height * 0.08))
    return ImageOps.expand(im.convert("RGB"), border=(0, pad, 0, pad), fill=(0, 0, 0))


def colour_grade(im: Image.Image) -> Image.Image:
    """A warm grade: red up 6%, blue down 6%, contrast up 10%."""
    a = np.asarray(im.convert("RGB"), np.float32)
    a *= np.array([1.06, 1.0, 0.94], np.float32)
    graded = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    return ImageEnhance.Contrast(graded).enhance(1.1)


def noise(im: Image.Image) -> Image.Image:
    """Mild sensor noise: Gaussian, sigma 6 grey levels (fixed seed)."""
    a = np.asarray(im.convert("RGB"), np.float32)
    rng = np.random.default_rng(a.shape[0] * 7919 + a.shape[1])
    return Image.fromarray(np.clip(a + rng.normal(0, 6, a.shape), 0, 255).astype(np.uint8))


def webp(im: Image.Image) -> Image.Image:
    """Re-encoded as WebP, quality 75."""
    return _reencode(im, "WEBP", quality=75)


def heic(im: Image.Image) -> Image.Image:
    """Re-encoded as HEIC, quality 70 (WebP where Pillow cannot write HEIC)."""
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
        return _reencode(im, "HEIF", quality=70)
    except (ImportError, KeyError, OSError):
        return _reencode(im, "WEBP", quality=70)


def thumbnail_64(im: Image.Image) -> Image.Image:
    """A 64-pixel thumbnail (the longer side)."""
    t = im.convert("RGB").copy()
    t.thumbnail((64, 64), Image.Resampling.LANCZOS)
    return t


#: Copies: name -> transform, in a stable order.
ALTERATIONS: dict[str, Transform] = {
    **TRANSFORMS,
    "resave-70": resave,
    "aspect-crop": aspect_crop,
    "border": border,
    "colour-grade": colour_grade,
    "noise": noise,
    "webp": webp,
    "heic": heic,
    "thumbnail-64": thumbnail_64,
}

#: Alterations that still make sense on a picture of 32 to 128 pixels (icons, digits).
TINY_ALTERATIONS = ("jpeg-q30", "mirror", "brighter", "border", "noise", "webp", "resave-70")


def hue_shift(im: Image.Image) -> Image.Image:
    """The same picture in other colours: hue turned by 120 degrees, brightness kept."""
    hsv = np.asarray(im.convert("RGB").convert("HSV"), np.uint8).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int16) + 85) % 256
    return Image.fromarray(hsv, "HSV").convert("RGB")


def _disc(im: Image.Image) -> tuple[int, tuple[int, int], Image.Image]:
    """Where a pasted object goes: its side, its upper left corner and its disc mask (a
    fifth of the shorter side across, right of and below the centre, where every crop of
    the set keeps it: a crop that cut it away would be a true copy of both)."""
    d = max(4, min(im.size) // 5)
    mask = Image.new("L", (d, d), 0)
    ImageDraw.Draw(mask).ellipse((0, 0, d - 1, d - 1), fill=255)
    return d, (round(im.width * 0.8) - d, round(im.height * 0.62) - d), mask


def paste_object(im: Image.Image, donor: Image.Image) -> Image.Image:
    """An object pasted into the composition: an opaque disc cut from another picture
    (see :func:`_disc` for where)."""
    out = im.convert("RGB").copy()
    d, place, mask = _disc(out)
    out.paste(ImageOps.fit(donor.convert("RGB"), (d, d)), place, mask)
    return out


def blend_object(im: Image.Image, donor: Image.Image) -> Image.Image:
    """An object pasted in the colours of what it covers: the disc of
    :func:`paste_object` with each channel's mean and spread made those of the picture
    beneath it, so that only its drawing differs (a sticker that matches its
    surroundings, a patch of brick on grass of the same grey)."""
    out = np.asarray(im.convert("RGB"), np.float32).copy()
    d, (x, y), mask = _disc(im)
    inside = np.asarray(mask) > 0
    patch = np.asarray(ImageOps.fit(donor.convert("RGB"), (d, d)), np.float32)
    beneath = out[y : y + d, x : x + d]
    p, b = patch[inside], beneath[inside]
    matched = (p - p.mean(axis=0)) / np.maximum(p.std(axis=0), 1.0) * b.std(axis=0) + b.mean(axis=0)
    beneath[inside] = np.clip(matched, 0, 255)
    return Image.fromarray(np.round(out).astype(np.uint8))


def caption(im: Image.Image, text: str) -> Image.Image:
    """A solid caption box with ``text`` in the upper left (a changed label or price)."""
    out = im.convert("RGB").copy()
    size = max(8, out.width // 9)
    draw = ImageDraw.Draw(out)
    font = load_font(size)
    x, y = out.width // 12, out.height // 12
    box = draw.textbbox((x, y), text, font=font)
    draw.rectangle((box[0] - 4, box[1] - 4, box[2] + 4, box[3] + 4), fill=(250, 240, 40))
    draw.text((x, y), text, font=font, fill=(20, 20, 20))
    return out


#: Kinds of hard negative the set labels (pairs of different pictures that look alike).
NEGATIVE_KINDS = (
    "hue-shift",  # the same drawing in other colours
    "pasted-object",  # the same composition with an object added
    "blended-object",  # ... an object added in the colours of what it covers
    "caption",  # the same picture with a different label
    "day-night",  # a wallpaper's day and night versions
    "icon-style",  # one coin drawn in another style
    "look-alike-item",  # two different Fashion-MNIST items that look alike
)
