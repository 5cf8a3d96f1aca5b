"""How the near-duplicate tier groups a photo library that no limit was fitted on,
against the library's own truth (``photoset.library_set``: windows that overlap little
of 79 photos and wallpapers, the views, and altered copies of 5% of them).

    python benchmarks/library_quality.py [--count 10000] [--sheet wrong.png]

Prints, for the grouping ``lookalike group`` makes with its defaults (kept pixel
measures are reused, so a second run takes seconds):

- copies joined with the view they were made from (through exact and near groups), by
  alteration, and by whether the view is plain (grey-level spread under ``PLAIN``: a
  window of sky or of one colour, which two views show as alike as two copies);
- near-tier pairs that join two different views: both plain, or with detail;
- the near groups that join different views with detail, by source, and the largest
  look-alike group.

With ``--sheet`` it draws pairs of different detailed views that share a near group,
each with the verdict that admitted it: pictures to judge by eye.
"""

from __future__ import annotations

import argparse
import itertools
import random
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from lookalike import Collection
from lookalike.grouping import find_duplicates
from lookalike.grouping.duplicates import DuplicateReport
from lookalike.imageio.decode import load_thumbnail
from lookalike.render.grid import Tile, render_tiles, save_image

try:
    from benchmarks.photoset import LIBRARY_ALTERATIONS, LibraryPlan, library_set, library_truth
except ImportError:  # run as a script
    from photoset import (  # type: ignore[no-redef]
        LIBRARY_ALTERATIONS,
        LibraryPlan,
        library_set,
        library_truth,
    )

#: A view whose grey levels spread less than this (standard deviation, of 255, on a
#: 128-px thumbnail) is plain: nothing in it tells two such views apart.
PLAIN = 5.0


def view_of(name: str, plan: LibraryPlan) -> int:
    """The view a library file shows: its own number, or for a copy its view's."""
    stem = Path(name).stem
    number = int(stem.split("-")[1])
    return number if stem.startswith("view-") else plan.copies[number][0]


def spread(path: Path) -> float:
    """The grey-level standard deviation of a 128-px thumbnail."""
    return float(np.asarray(load_thumbnail(path, 128).convert("L"), np.float32).std())


def joined(report: DuplicateReport) -> dict[str, str]:
    """Each file of an exact or near group, mapped to one name per set of groups that
    share members (an exact group's kept copy stands for it in the near tier)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for g in report.groups:
        if g.tier in ("exact", "near"):
            names = [m.path.name for m in g.members]
            for n in names[1:]:
                parent[find(n)] = find(names[0])
    return {n: find(n) for n in list(parent)}


def alignment(reason: str) -> str:
    """How a verdict's pair was aligned, in one word (from its reason)."""
    for words, name in (("a crop", "crop"), ("geometric inliers", "features"),
                        ("turned", "turned"), ("mirrored", "mirrored"),
                        ("same framing", "same framing")):  # fmt: skip
        if words in reason:
            return name
    return "other"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--sheet", type=Path, help="draw wrong near pairs with detail here")
    ap.add_argument("--pairs", type=int, default=12, help="how many pairs the sheet shows")
    args = ap.parse_args()
    root = library_set(args.count)
    plan = library_truth(args.count)
    with Collection.open(root) as col:
        col.index()
        report = find_duplicates(col)
    print(f"library: {root} ({report.images} images; {len(plan.copies)} copies of views)")

    spreads: dict[Path, float] = {}

    def plain(path: Path) -> bool:
        if path not in spreads:
            spreads[path] = spread(path)
        return spreads[path] < PLAIN

    # copies joined with their view
    together = joined(report)
    found: Counter[tuple[str, bool]] = Counter()
    made: Counter[tuple[str, bool]] = Counter()
    for i, (k, how) in enumerate(plan.copies):
        copy, view = f"copy-{i:05d}.jpg", f"view-{k:05d}.jpg"
        key = (how, plain(root / view))
        made[key] += 1
        found[key] += copy in together and together[copy] == together.get(view)
    print("\ncopies joined with their view (exact and near groups):")
    for flat in (False, True):
        cells = [f"{how} {found[(how, flat)]}/{made[(how, flat)]}" for how in LIBRARY_ALTERATIONS]
        total = sum(found[(h, flat)] for h in LIBRARY_ALTERATIONS)
        of = sum(made[(h, flat)] for h in LIBRARY_ALTERATIONS)
        print(f"  {'plain' if flat else 'detailed'} views: {total}/{of}  ({', '.join(cells)})")

    # near pairs and groups that join different views
    pairs: Counter[str] = Counter()
    wrong: list[tuple[Path, Path, str]] = []
    groups_wrong: Counter[str] = Counter()
    near = [g for g in report.groups if g.tier == "near"]
    for g in near:
        by_id = {m.id: m.path for m in g.members}
        sources = set()
        for a, b in itertools.combinations(g.members, 2):
            if view_of(a.path.name, plan) == view_of(b.path.name, plan):
                pairs["one view"] += 1
            elif plain(a.path) and plain(b.path):
                pairs["different plain views"] += 1
            else:
                pairs["different views with detail"] += 1
                sources.add(plan.sources[plan.views[view_of(a.path.name, plan)][0]])
                verdict = g.verdicts.get((min(a.id, b.id), max(a.id, b.id)))
                if verdict is not None and verdict.same:
                    wrong.append((by_id[a.id], by_id[b.id], verdict.reason))
        for s in sources:
            groups_wrong[s] += 1
    total = sum(pairs.values())
    print(f"\nnear tier: {len(near)} groups, {total} pairs inside them")
    for k in ("one view", "different plain views", "different views with detail"):
        print(f"  {k}: {pairs[k]} ({pairs[k] / max(total, 1):.1%})")
    print(
        f"  near groups joining different views with detail: {sum(groups_wrong.values())}"
        f" (by source: {', '.join(f'{s} {n}' for s, n in groups_wrong.most_common(6))})"
    )
    sizes = [len(g.members) for g in report.groups if g.tier == "similar"]
    if sizes:
        print(f"look-alike tier: {len(sizes)} groups, the largest of {max(sizes)} images")
    if args.sheet and wrong:
        shown = random.Random(0).sample(wrong, min(args.pairs, len(wrong)))
        tiles: list[Tile] = []
        for a, b, reason in shown:
            how = reason.split(", ")[1] if ", " in reason else alignment(reason)
            tiles += [Tile(a, a.name, how, tone="bad"), Tile(b, b.name, how, tone="bad")]
        sheet = render_tiles("different views in one near group", tiles, thumb=180, columns=4)
        print(f"\nsheet of {len(shown)} pairs: {save_image(sheet, args.sheet)}")
    by_kind: defaultdict[str, int] = defaultdict(int)
    for _, _, reason in wrong:
        by_kind[alignment(reason)] += 1
    if by_kind:
        print("  how those pairs were aligned:", dict(sorted(by_kind.items(), key=lambda x: -x[1])))


if __name__ == "__main__":
    main()
