"""What several poolings cost when embedded together: one pass of one pooling against one
joint pass of several (each image decoded once, one forward pass for all poolings).

Runs alternate (single, joint, single, joint, ...) on a fresh catalogue each time, and
the medians are printed with their ratio.

    python benchmarks/joint_pass.py FOLDER [--model efficientnet-lite0]
        [--poolings multi,avg,max] [--runs 2]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from lookalike import Collection
from lookalike.encoders import create_encoder


def timed_pass(root: Path, encoders: list) -> float:  # type: ignore[type-arg]
    """Embedding seconds of one index run on a fresh catalogue."""
    db = Path(tempfile.mkdtemp(prefix="lookalike-joint-"))
    try:
        with Collection.open(root, db=db) as col:
            report = col.index(encoders[0], also=encoders[1:])
        return report.embed_seconds
    finally:
        shutil.rmtree(db, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--model", default="efficientnet-lite0")
    ap.add_argument("--poolings", default="multi,avg,max")
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    encoders = [create_encoder(args.model, pooling=p) for p in args.poolings.split(",")]
    single, joint = [], []
    for run in range(args.runs):
        single.append(timed_pass(args.folder, encoders[:1]))
        joint.append(timed_pass(args.folder, encoders))
        n = len(encoders)
        print(f"run {run + 1}: one pooling {single[-1]:.1f} s, all {n} {joint[-1]:.1f} s")
    s, j = statistics.median(single), statistics.median(joint)
    print(
        f"median: {encoders[0].pooling} alone {s:.1f} s; {args.poolings} in one pass {j:.1f} s "
        f"({j / s:.2f}x one pass; {len(encoders)} separate passes would be {len(encoders)}x)"
    )


if __name__ == "__main__":
    main()
