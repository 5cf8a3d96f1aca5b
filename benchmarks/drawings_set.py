"""Near-duplicate grouping on flat synthetic drawings, a kind of picture the hard set lacks.

    python benchmarks/drawings_set.py [--count 30] [--out DIR]

Draws ``count`` pictures of hard-edged shapes on plain grounds (the test suite's scenes,
``tests/imagegen.py``), makes them into a near-duplicate set by the hard set's own
recipe (the same copies, hard negatives and calibration/validation split), groups both
halves with the shipped verifier rules and prints each half's precision, recall,
recall per alteration, grouped hard negatives and how often the original is kept. Nothing
is fitted on this set; the set is made once and kept (its kept pixel measures too).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from lookalike.config import cache_dir
from lookalike.datasets.duplicate_set import Picture, build_duplicate_set
from lookalike.grouping.calibration import check_rules
from lookalike.grouping.verify_fit import load_rules

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from imagegen import scene  # the test suite's drawings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=30)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    out = args.out or cache_dir() / "sets" / f"drawings-{args.count}"

    def source() -> Iterator[Picture]:
        for k in range(args.count):
            yield Picture("made", f"shapes-{k}", scene("shapes", 100 + k))

    truth = build_duplicate_set(out, {"made": source})
    check = check_rules(truth, load_rules()).to_dict()
    print(f"set: {out} ({args.count} drawings)")
    for split in ("calibration", "validation"):
        d = check[split]
        p, r, f1 = d["precision"], d["recall"], d["f1"]
        print(f"{split}: precision {p:.3f}  recall {r:.3f}  F1 {f1:.3f}")
        alts = d["alterations"].items()
        low = {k: f"{v['found']}/{v['copies']}" for k, v in alts if v["recall"] < 1}
        print(f"  copies not all found: {low or 'none'}")
        grouped = {k: f"{v['grouped']}/{v['pairs']}" for k, v in d["negatives"].items()}
        print(f"  hard negatives grouped: {grouped}")
        keep = d["keep"]
        print(f"  original kept: {keep['original_kept']}/{keep['groups']}")


if __name__ == "__main__":
    main()
