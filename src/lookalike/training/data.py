"""Training images, decoded and resized once through the robust ingest and cached as a
uint8 array on disk (memory-mapped), so every epoch after the first costs no decoding."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from lookalike.config import default_workers
from lookalike.errors import ImageDecodeError, NoImagesError
from lookalike.imageio import read_image, walk_files
from lookalike.results import Skipped
from lookalike.store import write_bytes_atomic


@dataclass(frozen=True)
class ImageCache:
    """(N, H, W, 3) uint8 pixels of the readable images, their paths, and what was skipped."""

    pixels: NDArray[np.uint8]
    paths: list[str]
    skipped: list[Skipped]


def _decode(root: Path, rel: str, size: int) -> NDArray[np.uint8] | str:
    try:
        return read_image(root / rel, size=size).pixels
    except ImageDecodeError as exc:
        return exc.reason


def build_cache(
    root: Path, folder: Path, size: int, *, exclude: tuple[Path, ...] = ()
) -> ImageCache:
    """Decode every image under ``root`` at ``size`` into ``folder/images-SIZE.npy`` (once)."""
    array = folder / f"images-{size}.npy"
    meta = folder / f"images-{size}.json"
    if array.exists() and meta.exists():
        info = json.loads(meta.read_text())
        return ImageCache(
            np.load(array, mmap_mode="r"),
            info["paths"],
            [Skipped(p, r) for p, r in info["skipped"]],
        )
    entries = [e for e in walk_files(root, exclude=exclude) if e.error is None]
    skipped = [Skipped(e.relpath, e.error) for e in walk_files(root, exclude=exclude) if e.error]
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".images-{size}.{os.getpid()}.npy"
    out = np.lib.format.open_memmap(
        tmp, mode="w+", dtype=np.uint8, shape=(len(entries), size, size, 3)
    )
    paths: list[str] = []
    with ThreadPoolExecutor(default_workers()) as pool:
        for e, result in zip(
            entries, pool.map(lambda e: _decode(root, e.relpath, size), entries), strict=True
        ):
            if isinstance(result, str):
                skipped.append(Skipped(e.relpath, result))
                continue
            out[len(paths)] = result
            paths.append(e.relpath)
    out.flush()
    del out
    if not paths:
        tmp.unlink(missing_ok=True)
        raise NoImagesError(f"no images could be read in {root}")
    if len(paths) < len(entries):  # drop the unused tail rows
        full = np.load(tmp, mmap_mode="r")
        np.save(tmp.with_suffix(".trim.npy"), full[: len(paths)])
        del full
        os.replace(tmp.with_suffix(".trim.npy"), tmp)
    os.replace(tmp, array)
    write_bytes_atomic(
        meta,
        json.dumps({"paths": paths, "skipped": [[s.path, s.reason] for s in skipped]}).encode(),
    )
    return ImageCache(np.load(array, mmap_mode="r"), paths, skipped)
