"""Decode one file into an RGB uint8 array of a fixed size, or say precisely why not.

Handles EXIF orientation, palette/grey/16-bit/CMYK/alpha modes (alpha is flattened on
white), animated files (first frame), HEIC/HEIF (through pillow-heif) and decompression
bombs. JPEGs are decoded at a reduced scale (draft mode) when the target is small, which
is several times faster than a full decode followed by a resize.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from lookalike.errors import ImageDecodeError
from lookalike.imageio.remote import is_remote, read_remote

try:  # HEIC/HEIF phone photos
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is a dependency, but stay usable without it
    pass

#: Images with more pixels than this are refused (decompression-bomb guard): 16k x 12k.
DEFAULT_MAX_PIXELS = 200_000_000
#: Files larger than this are refused before they are read.
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
#: A JPEG is decoded at the smallest DCT scale (1/2, 1/4, 1/8) whose sides are still at
#: least this share of the target size; the resize then barely upsamples. At 224 px this
#: decodes a 1024x768 photo at 1/4 scale instead of 1/2, about twice as fast, and differs
#: from a full decode by under one grey level (of 255) on average.
DRAFT_SLACK = 0.8

#: Leading bytes of common formats, used only to word the error of a file that Pillow
#: cannot identify: "corrupt JPEG" rather than "not an image".
_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG", "PNG"),
    (b"GIF8", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"RIFF", "RIFF/WebP"),
    (b"BM", "BMP"),
)


@dataclass(frozen=True)
class DecodedImage:
    """Pixels ready for an encoder plus what the catalogue records about the file."""

    pixels: NDArray[np.uint8]  # (H, W, 3)
    width: int  # original size, before any resize
    height: int
    format: str
    sha256: str


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparency is flattened on white."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        if im.mode == "F":
            top = max(float(arr.max(initial=1.0)), 1e-12)
        arr = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        im = Image.fromarray(arr, mode="L")
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        im.mode == "P" and "transparency" in im.info
    )
    if has_alpha:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if im.mode != "RGB":
        return im.convert("RGB")
    return im


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if "truncated" in text.lower():
        return f"truncated file ({text})"
    return f"corrupt image ({text})"


def decode_bytes(
    data: bytes,
    *,
    size: int | None,
    name: str = "<bytes>",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    fit: bool = False,
) -> DecodedImage:
    """Decode an encoded image held in memory; resize to ``size`` x ``size`` when given, or
    with ``fit`` shrink it to fit in that square, keeping its aspect ratio."""
    if not data:
        raise ImageDecodeError(name, "empty file (0 bytes)")
    digest = hashlib.sha256(data).hexdigest()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        fmt = next((f for magic, f in _SIGNATURES if data.startswith(magic)), None)
        if fmt:  # it claims to be an image but its header does not parse
            raise ImageDecodeError(name, f"corrupt image ({fmt} header unreadable)") from None
        raise ImageDecodeError(name, "not an image (unrecognised content)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageDecodeError(name, f"too many pixels ({exc})") from None
    except Exception as exc:
        raise ImageDecodeError(name, _reason(exc)) from None
    width, height = im.size
    fmt = im.format or "unknown"
    if width * height > max_pixels:
        raise ImageDecodeError(
            name, f"too many pixels ({width}x{height} > {max_pixels:,}; decompression-bomb guard)"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if size is not None and fmt == "JPEG":
                side = max(1, int(size * DRAFT_SLACK))
                im.draft("RGB", (side, side))
            im.load()
            with contextlib.suppress(Exception):  # a broken EXIF block must not lose it
                im = ImageOps.exif_transpose(im) or im
            rgb = to_rgb(im)
            if size is not None and fit:
                rgb.thumbnail((size, size), Image.Resampling.BILINEAR)
            elif size is not None and rgb.size != (size, size):
                rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
            pixels = np.asarray(rgb, dtype=np.uint8)
    except ImageDecodeError:
        raise
    except Exception as exc:
        raise ImageDecodeError(name, _reason(exc)) from None
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ImageDecodeError(name, f"unexpected pixel layout {pixels.shape}")
    return DecodedImage(pixels, width, height, fmt, digest)


def read_image(
    path: str | os.PathLike[str],
    *,
    size: int | None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    fit: bool = False,
) -> DecodedImage:
    """Read and decode one file; raises :class:`ImageDecodeError` with a short reason.
    ``size`` squares the picture to ``size`` x ``size`` (``fit``: keeps its aspect)."""
    name = str(path)
    if is_remote(path):
        data = read_remote(path, max_bytes)  # type: ignore[arg-type]
        return decode_bytes(data, size=size, name=name, max_pixels=max_pixels, fit=fit)
    try:
        nbytes = os.stat(path).st_size
        if nbytes > max_bytes:
            raise ImageDecodeError(name, f"file too large ({nbytes:,} > {max_bytes:,} bytes)")
        data = Path(path).read_bytes()
    except ImageDecodeError:
        raise
    except IsADirectoryError:
        raise ImageDecodeError(name, "is a folder") from None
    except OSError as exc:
        raise ImageDecodeError(name, f"cannot read: {exc.strerror or exc}") from None
    return decode_bytes(data, size=size, name=name, max_pixels=max_pixels, fit=fit)


def load_thumbnail(path: str | os.PathLike[str], size: int = 256) -> Image.Image:
    """An RGB thumbnail that keeps the aspect ratio (longest side ``size``), for pictures.

    Unreadable files give a grey tile with a cross, so a picture never fails on one file.
    """
    try:
        source = io.BytesIO(read_remote(path, DEFAULT_MAX_BYTES)) if is_remote(path) else path
        with Image.open(source) as im:
            im.draft("RGB", (size, size))
            im.load()
            im = ImageOps.exif_transpose(im) or im
            rgb = to_rgb(im)
            rgb.thumbnail((size, size), Image.Resampling.BILINEAR)
            return rgb
    except Exception:
        tile = Image.new("RGB", (size, size), (200, 200, 200))
        from PIL import ImageDraw

        draw = ImageDraw.Draw(tile)
        draw.line((0, 0, size, size), fill=(150, 150, 150), width=3)
        draw.line((0, size, size, 0), fill=(150, 150, 150), width=3)
        return tile
