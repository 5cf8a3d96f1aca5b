"""What regrouping costs once a collection grows: the folder is linked into a temporary
copy (its catalogue copied), grouped once with the pixel verifier as a user's earlier run
would, then N new pictures (mirrored copies and crops of its own) are added and indexed,
and the next grouping is timed with the measures kept, against cosine alone, side by side.

    python benchmarks/regroup_cost.py DIR [--add 100]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageOps

from lookalike import Collection
from lookalike.grouping import find_duplicates


def copy_collection(src: Path, dst: Path) -> None:
    """Hard-link the pictures and copy the catalogue (never write through a link)."""
    for entry in src.iterdir():
        if entry.name == ".lookalike":
            shutil.copytree(entry, dst / entry.name)
        elif entry.is_file():
            os.link(entry, dst / entry.name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--add", type=int, default=100, help="new pictures to add")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        copy_collection(args.folder, root)
        with Collection.open(root) as col:
            col.index()
            t = time.perf_counter()
            before = find_duplicates(col)
            first = time.perf_counter() - t
            pictures = sorted(p for p in root.glob("*.jpg"))
            for k, p in enumerate(random.Random(7).sample(pictures, args.add)):
                im = Image.open(p).convert("RGB")
                w, h = im.size
                im = ImageOps.mirror(im) if k % 2 else im.crop((w // 10, h // 10, w, h))
                im.save(root / f"added-{k:05d}.jpg", quality=80)
            t = time.perf_counter()
            col.index()
            index_s = time.perf_counter() - t
            t = time.perf_counter()
            find_duplicates(col, verify=False)
            plain = time.perf_counter() - t
            t = time.perf_counter()
            after = find_duplicates(col)
            later = time.perf_counter() - t
    print(f"{before.images:,} images; grouped verified as a user's earlier run: {first:.1f} s "
          f"({before.measured:,} pairs measured, {before.reused:,} on kept measures)")  # fmt: skip
    print(f"{args.add} pictures added, indexed in {index_s:.1f} s")
    print(f"regrouping, cosine only: {plain:.1f} s; verified with kept measures: {later:.1f} s "
          f"({after.measured:,} pairs measured, {after.reused:,} reused): {later / plain:.2f}x; "
          f"with the index: {(index_s + later) / (index_s + plain):.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
