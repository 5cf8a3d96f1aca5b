"""Altered copies of a photo, the ground truth of near-duplicate tests and benchmarks.

Each transform is one users meet in real collections: re-encoding, resizing, cropping,
mirroring, brightening, slight rotation, a watermark.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageEnhance, ImageOps

from lookalike.imageio.fonts import load_font

Transform = Callable[[Image.Image], Image.Image]


def jpeg_q30(im: Image.Image) -> Image.Image:
    """Re-encode at JPEG quality 30."""
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=30)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def half_size(im: Image.Image) -> Image.Image:
    """Resize to 50%."""
    return im.resize((max(1, im.width // 2), max(1, im.height // 2)), Image.Resampling.LANCZOS)


def crop_85(im: Image.Image) -> Image.Image:
    """Keep the central 85% of each side."""
    dx, dy = round(im.width * 0.075), round(im.height * 0.075)
    return im.crop((dx, dy, im.width - dx, im.height - dy))


def mirror(im: Image.Image) -> Image.Image:
    """Flip left to right."""
    return ImageOps.mirror(im)


def brighter(im: Image.Image) -> Image.Image:
    """+20% brightness."""
    return ImageEnhance.Brightness(im).enhance(1.2)


def rotate_5(im: Image.Image) -> Image.Image:
    """Rotate 5 degrees, keeping the size (corners filled from the edge colour)."""
    return im.rotate(5, resample=Image.Resampling.BILINEAR, fillcolor=im.getpixel((0, 0)))


def watermark(im: Image.Image) -> Image.Image:
    """A semi-transparent text watermark across the lower third."""
    base = im.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    size = max(12, base.width // 12)
    draw.text(
        (base.width * 0.08, base.height * 0.7),
        "© lookalike sample",
        font=load_font(size),
        fill=(255, 255, 255, 150),
    )
    return Image.alpha_composite(base, layer).convert("RGB")


#: Name -> transform, in a stable order.
TRANSFORMS: dict[str, Transform] = {
    "jpeg-q30": jpeg_q30,
    "half-size": half_size,
    "crop-85": crop_85,
    "mirror": mirror,
    "brighter": brighter,
    "rotate-5": rotate_5,
    "watermark": watermark,
}
