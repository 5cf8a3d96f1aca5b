"""What the user decided about pairs of images ("not duplicates"), kept in the catalogue
and honoured by every later grouping."""

from __future__ import annotations

import os

from lookalike.collection import Collection
from lookalike.errors import NotIndexedError

NOT_DUPLICATES = "not-duplicates"


def mark_not_duplicates(col: Collection, paths: list[str | os.PathLike[str]]) -> int:
    """Remember that these images are not duplicates of each other: grouping will never
    put any two of them in one group again. Returns the number of pairs recorded."""
    with col.guard:
        catalog = col.catalog
        ids = []
        for p in paths:
            rel = col.relative(p)
            row = catalog.file(rel) if rel else None
            if row is None:
                raise NotIndexedError(f"{p} is not an indexed image of {col.root}")
            ids.append(row.id)
        pairs = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :]]
        return catalog.decide(pairs, NOT_DUPLICATES)


def not_duplicate_pairs(col: Collection) -> set[tuple[int, int]]:
    """Pairs of file ids the user marked as not duplicates."""
    with col.guard:
        return col.catalog.decided(NOT_DUPLICATES)
