"""How fast the CLI answers: median wall time of whole processes (start-up included) for
``lookalike --help``, ``info``, and ``search`` of a stored and of an outside image, each
beside ``python -c "import numpy"`` measured in the same run, interleaved.

    python benchmarks/cli_latency.py DIR [--runs 10]

DIR must be indexed; the outside image is a copy of one of its images, saved elsewhere
with one pixel changed (so its stored vector cannot be reused).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image


def wall(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    cli = [sys.executable, "-m", "lookalike"]
    stored = next(p for p in sorted(args.folder.rglob("*")) if p.suffix.lower() in {".png", ".jpg"})
    tmp = Path(tempfile.mkdtemp(prefix="lookalike-cli-bench-"))
    try:
        with Image.open(stored) as im:
            outside = im.convert("RGB")
        outside.putpixel((0, 0), (255, 0, 0))
        outside.save(tmp / "outside.png")
        cases = {
            'python -c "import numpy"': [sys.executable, "-c", "import numpy"],
            "lookalike --help": [*cli, "--help"],
            "lookalike info DIR": [*cli, "info", str(args.folder)],
            "lookalike search (stored image)": [
                *cli,
                "search",
                str(stored),
                "--in",
                str(args.folder),
            ],
            "lookalike search (outside image)": [
                *cli,
                "search",
                str(tmp / "outside.png"),
                "--in",
                str(args.folder),
            ],
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, cmd in cases.items():
                times[name].append(wall(cmd))
        base = statistics.median(times['python -c "import numpy"'])
        for name, ts in times.items():
            med = statistics.median(ts)
            print(f"{name:<34} median {med:.2f} s  ({med / base:.1f}x python -c 'import numpy')")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
