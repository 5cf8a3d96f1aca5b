"""A second source of candidate pairs for small pictures: their nearest neighbours by the
pixels themselves.

A CNN looks at a small picture (an icon, a 28-px item) upscaled many times, so noise
or a redrawing at another size moves its vector far: on the near-duplicate set's
calibration half, a third of the noisy copies of 128-px icons and of their 32-px
renderings ranked 250th (median) among their original's CNN neighbours, out of reach of
any candidate list, while by a blurred 16 x 16 grey signature every one of them was
among the ten nearest. Small pictures are cheap to decode, so each gets such a
signature (from the verifier's fingerprint, which verification reuses) and its nearest
neighbours, mirrored ones included, become candidates too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
from numpy.typing import NDArray

from lookalike.grouping import verifier as verifying
from lookalike.grouping.linkage import Pair, pair
from lookalike.grouping.verifier import Verifier
from lookalike.grouping.verify import SMALL_SIDE, Fingerprint, grey

#: Side of the grey signature.
SIDE = 16
#: Pixel neighbours each small picture proposes.
PIXEL_NEIGHBOURS = 10
#: Above this many small pictures the neighbours come from an HNSW graph, not all pairs.
EXACT_UP_TO = 20_000


def signature(rgb: NDArray[np.float32]) -> NDArray[np.float32]:
    """A picture in grey at 16 x 16, lightly blurred and normalised to zero mean and unit
    length (a brightness or contrast change costs nothing)."""
    import cv2

    small = cv2.resize(grey(rgb), (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (3, 3), 0.8)
    small = small - small.mean()
    return (small / max(float(np.linalg.norm(small)), 1e-6)).astype(np.float32)


def _views(fp: Fingerprint) -> list[NDArray[np.float32]]:
    """The signatures of a fingerprint: trimmed, and as it is where the trim cut
    something (noise can keep a border from being trimmed in one copy only)."""
    views = [signature(fp.rgb)]
    if fp.trimmed:
        views.append(signature(fp.full))
    return views


def pixel_pairs(verifier: Verifier, ids: Iterable[int], k: int = PIXEL_NEIGHBOURS) -> set[Pair]:
    """Each picture's ``k`` nearest others among ``ids`` by signature (trimmed or not,
    as it is or mirrored); the verifier fingerprints them (unreadable ones are left
    out)."""
    import faiss

    ids = sorted(set(ids))
    owner: list[int] = []
    sigs: list[NDArray[np.float32]] = []
    # a part at a time, as the verifier holds its fingerprints (only signatures are kept)
    most = verifying.MAX_PRINTS
    for start in range(0, len(ids), most):
        part = ids[start : start + most]
        verifier.prepare(part)
        for i in part:
            fp = verifier.prints.get(i)
            if fp is not None:
                views = _views(fp)
                owner += [i] * len(views)
                sigs += views
        if len(ids) > most:
            verifier.release(part)
    if len(set(owner)) < 2:
        return set()
    base = np.stack([s.ravel() for s in sigs])
    mirrored = np.stack([s[:, ::-1].ravel() for s in sigs])
    if len(sigs) <= EXACT_UP_TO:
        index = faiss.IndexFlatIP(base.shape[1])
    else:
        index = faiss.IndexHNSWFlat(base.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = 64
    index.add(base)
    kk = min(2 * k + 2, len(sigs))  # an image's other view may take a place
    out: set[Pair] = set()
    for queries in (base, mirrored):
        _, found = index.search(np.ascontiguousarray(queries), kk)
        for r, row in enumerate(found.tolist()):
            mine = owner[r]
            near = dict.fromkeys(owner[j] for j in row if j >= 0 and owner[j] != mine)
            out.update(pair(mine, j) for j in list(near)[:k])
    return out


def small_ids(sizes: dict[int, tuple[int | None, int | None]]) -> set[int]:
    """The ids whose picture is at most ``SMALL_SIDE`` px on its longer side (a picture of
    unknown size is not counted)."""
    return {i for i, (w, h) in sizes.items() if w and h and max(w, h) <= SMALL_SIDE}


def add_pixel_candidates(
    candidates: dict[Pair, float],
    verifier: Verifier,
    small: Iterable[int],
    cosine_of: Callable[[int, int], float],
    gate: float,
    *,
    blocked: set[Pair] = frozenset(),  # type: ignore[assignment]
) -> dict[Pair, float]:
    """``candidates`` with the small pictures' pixel neighbours added where their cosine
    reaches ``gate`` too (the same gate as the kNN graph's pairs; none the user
    blocked). The verifier compares the added pairs in the same framing only (as it is
    or mirrored): that is how their signatures matched."""
    out = dict(candidates)
    for p in sorted(pixel_pairs(verifier, small) - set(out) - set(blocked)):
        s = cosine_of(*p)
        if s >= gate:
            out[p] = s
            verifier.framed.add(p)
    return out
