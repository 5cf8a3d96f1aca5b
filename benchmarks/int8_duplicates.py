"""Near-duplicate quality of the int8 encoder against fp32, on the validation half of the
hard calibration set (``lookalike evaluate-groups --set hard`` builds it), with the
shipped verifier limits and each precision's own vectors. Prints the near tier's
precision, recall and F1 for both, and their difference.

    python benchmarks/int8_duplicates.py [SET_DIR]   (default: the cached set)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from lookalike import Collection
from lookalike.config import cache_dir
from lookalike.datasets.duplicate_set import load_duplicate_set
from lookalike.encoders import create_encoder
from lookalike.grouping import find_duplicates
from lookalike.grouping.calibration import score_near_tier


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else cache_dir() / "dupset"
    truth = load_duplicate_set(folder)
    if truth is None:
        sys.exit(f"no hard set in {folder}: run lookalike evaluate-groups --set hard first")
    half = truth.half("validation")
    scores = {}
    with Collection.open(half.root) as col:
        for precision in ("fp32", "int8"):
            encoder = create_encoder("efficientnet-lite0", precision=precision)
            t = time.perf_counter()
            col.index(encoder)  # becomes the default set, which grouping uses
            report = find_duplicates(col)
            scores[precision] = score_near_tier(report, half)
            s = scores[precision].pairs
            print(
                f"{precision}: near tier precision {s.precision:.3f}, recall {s.recall:.3f}, "
                f"F1 {s.f1:.3f} ({time.perf_counter() - t:.0f} s)",
                flush=True,
            )
        col.index(create_encoder("efficientnet-lite0"))  # leave fp32 as the default
    print(f"int8 - fp32: F1 {scores['int8'].pairs.f1 - scores['fp32'].pairs.f1:+.3f}")


if __name__ == "__main__":
    main()
