"""Images the tests make themselves: distinct scenes and altered copies of them."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

W, H = 320, 240


def scene(kind: str, seed: int = 0) -> Image.Image:
    """A synthetic picture: shapes, gradients or textures, varied by ``seed``."""
    rng = np.random.default_rng(seed)
    if kind == "gradient":
        a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        t = np.linspace(0, 1, W)[None, :, None]
        arr = (a * (1 - t) + b * t).repeat(H, axis=0)
        return Image.fromarray(arr.astype(np.uint8))
    if kind == "checker":
        n = int(rng.integers(6, 24))
        yy, xx = np.mgrid[0:H, 0:W]
        mask = ((xx // n + yy // n) % 2).astype(bool)
        arr = np.zeros((H, W, 3), np.uint8)
        arr[mask] = rng.integers(0, 256, 3)
        arr[~mask] = rng.integers(0, 256, 3)
        return Image.fromarray(arr)
    if kind == "stripes":
        n = int(rng.integers(5, 30))
        yy, xx = np.mgrid[0:H, 0:W]
        arr = np.zeros((H, W, 3), np.uint8)
        arr[((xx + yy) // n) % 2 == 0] = rng.integers(0, 256, 3)
        return Image.fromarray(arr)
    if kind == "noise":
        small = rng.integers(0, 256, (H // 16, W // 16, 3)).astype(np.uint8)
        return Image.fromarray(small).resize((W, H), Image.Resampling.BICUBIC)
    # shapes
    bg = tuple(int(v) for v in rng.integers(0, 256, 3))
    im = Image.new("RGB", (W, H), bg)
    draw = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(2, 5))):
        x0, y0 = int(rng.integers(0, W - 60)), int(rng.integers(0, H - 60))
        x1, y1 = x0 + int(rng.integers(40, 140)), y0 + int(rng.integers(40, 120))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        shape = int(rng.integers(0, 3))
        if shape == 0:
            draw.ellipse((x0, y0, x1, y1), fill=fill)
        elif shape == 1:
            draw.rectangle((x0, y0, x1, y1), fill=fill)
        else:
            draw.polygon([(x0, y1), ((x0 + x1) // 2, y0), (x1, y1)], fill=fill)
    return im


SCENES = [
    ("shapes", 1),
    ("shapes", 2),
    ("gradient", 3),
    ("checker", 4),
    ("stripes", 5),
    ("noise", 6),
    ("shapes", 7),
    ("noise", 8),
]


def variant(im: Image.Image, how: str) -> Image.Image:
    """An altered copy: resized, cropped, recoloured, flipped or re-encoded."""
    if how == "resized":
        return im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS)
    if how == "cropped":
        return im.crop((16, 12, im.width - 16, im.height - 12))
    if how == "recoloured":
        return ImageEnhance.Brightness(im).enhance(1.15)
    if how == "flipped":
        return ImageOps.mirror(im)
    if how == "reencoded":
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=40)
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    raise ValueError(how)


def write_collection(
    root: Path, *, variants: tuple[str, ...] = ("resized", "cropped")
) -> list[Path]:
    """Write each scene as a JPEG plus its variants; returns the originals' paths."""
    root.mkdir(parents=True, exist_ok=True)
    originals = []
    for kind, seed in SCENES:
        im = scene(kind, seed)
        p = root / f"{kind}-{seed}.jpg"
        im.save(p, quality=92)
        originals.append(p)
        for v in variants:
            (root / "variants").mkdir(exist_ok=True)
            variant(im, v).save(root / "variants" / f"{kind}-{seed}-{v}.png")
    return originals
