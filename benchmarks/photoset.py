"""Benchmark photo sets made from scikit-image's bundled photos (offline, cached).

Each image is a random crop of a sample photo, maybe mirrored and recoloured, resized to
the target size and saved as a JPEG, so decode costs match real camera files of that size.
"""

from __future__ import annotations

import io
import os
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
        im = im.resize(size, Image.Resampling.BICUBIC)
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=quality)
        write_bytes_atomic(target, buf.getvalue())
    return root
