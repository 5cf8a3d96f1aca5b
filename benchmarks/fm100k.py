"""The 100,000-image collection the serve benchmark searches: Fashion-MNIST's 60,000
training items as PNGs in one folder per class, plus the first 40,000 mirrored.

Needs the Debian package ``dataset-fashion-mnist`` (``apt-get install
dataset-fashion-mnist``, or ``apt-get download`` it and ``dpkg-deb -x`` it, then point
``--source`` at its ``usr/share/datasets/fashion-mnist``).

    python benchmarks/fm100k.py OUT [--source /usr/share/datasets/fashion-mnist]
    lookalike index OUT          # about 11 minutes on 2 cores
    python benchmarks/serve_load.py OUT
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = (
    "tshirt_top", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle_boot",
)  # fmt: skip


def _read(path: Path) -> bytes:
    with gzip.open(path) as fh:
        return fh.read()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--source", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    ap.add_argument("--mirrored", type=int, default=40_000)
    args = ap.parse_args()
    images = np.frombuffer(_read(args.source / "train-images-idx3-ubyte.gz"), np.uint8, offset=16)
    images = images.reshape(-1, 28, 28)
    labels = np.frombuffer(_read(args.source / "train-labels-idx1-ubyte.gz"), np.uint8, offset=8)
    written = 0
    for i, (pixels, label) in enumerate(zip(images, labels, strict=True)):
        folder = args.out / CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / f"train-{i:05d}.png")
        written += 1
        if i < args.mirrored:
            Image.fromarray(pixels[:, ::-1]).save(folder / f"mirror-{i:05d}.png")
            written += 1
    print(f"{written:,} images in {args.out}")


if __name__ == "__main__":
    main()
