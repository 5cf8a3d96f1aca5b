"""Near-duplicate groups from verified pairs: every candidate edge of the kNN graph gets
the pixel verifier's verdict, groups grow along verified edges, and inside each group
every pair is verified too: a member stays only if it is one picture with at least half
of the others (average linkage on the verdicts). So a chain of look-alikes never forms a
group, while two copies that cannot be aligned with each other (a mirrored copy and a
rotated one) still stay with the original they both come from; but two pictures shown
to be distinct (two captions on one photo) never share a group."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

from lookalike.grouping.linkage import Pair, components, pair
from lookalike.grouping.verifier import Verifier
from lookalike.grouping.verify import Verdict
from lookalike.results import KnnGraph

#: Groups up to this size have every pair verified. A larger component of verified pairs
#: (many copies of one picture, or a chain of look-alikes: windows of one texture) is
#: checked against its hub, the member with the most verified links: those one picture
#: with it are a group, and the rest fall apart along their own links again.
MAX_ALL_PAIRS = 40


def candidate_pairs(
    graph: KnnGraph,
    gate: float,
    *,
    nodes: set[int] | None = None,
    blocked: set[Pair] = frozenset(),  # type: ignore[assignment]
    depth: int | None = None,
    deep: set[int] = frozenset(),  # type: ignore[assignment]
) -> dict[Pair, float]:
    """The kNN graph's edges with cosine at least ``gate`` (between ``nodes`` only, none
    the user blocked), each with its cosine. With ``depth``, only each vector's ``depth``
    nearest count, except for the ``deep`` ones, whose whole row does."""
    out: dict[Pair, float] = {}
    for r, i in enumerate(graph.ids.tolist()):
        if nodes is not None and i not in nodes:
            continue
        width = graph.neighbours.shape[1] if depth is None or i in deep else depth
        row = zip(
            graph.neighbours[r, :width].tolist(),
            graph.similarities[r, :width].tolist(),
            strict=True,
        )
        for j, s in row:
            if j < 0 or s < gate or (nodes is not None and j not in nodes):
                continue
            key = pair(i, j)
            if key not in blocked and s > out.get(key, -2.0):
                out[key] = float(s)
    return out


def verified_groups(
    candidates: dict[Pair, float],
    verifier: Verifier,
    cosine_of: Callable[[int, int], float],
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[list[int]], dict[Pair, Verdict]]:
    """Groups whose members are verified copies of each other, and every verdict made
    (the verifier fingerprints the pictures it measures, a part at a time)."""
    items = list(candidates.items())
    judged = verifier.judge_many(items, progress)
    verdicts = {p: v for (p, _), v in zip(items, judged, strict=True)}
    done = len(items)

    def judge(pairs: set[Pair]) -> None:  # the pairs not judged yet, in one go
        nonlocal done
        todo = [(p, cosine_of(*p)) for p in sorted(pairs - verdicts.keys())]

        def more(k: int, total: int) -> None:
            if progress:
                progress(done + k, done + total)

        got = verifier.judge_many(todo, more if todo else None)
        verdicts.update({p: v for (p, _), v in zip(todo, got, strict=True)})
        done += len(todo)

    groups: list[list[int]] = []
    found = _components([p for p, v in verdicts.items() if v.same])
    parts = [m for m in found if len(m) <= MAX_ALL_PAIRS]  # to verify all through
    large = [m for m in found if len(m) > MAX_ALL_PAIRS]
    while large:
        # a component too large to verify all through: its hub (the member with the most
        # verified links) against every other member; those one picture with it are a
        # group, and the rest fall apart along their own verified links again
        hubs = _hubs(large, verdicts)
        judge({pair(h, i) for h, m in zip(hubs, large, strict=True) for i in m if i != h})
        rest: dict[int, int] = {}  # a picture left over -> its component
        for k, (hub, members) in enumerate(zip(hubs, large, strict=True)):
            with_hub = [hub] + [i for i in members if i != hub and verdicts[pair(hub, i)].same]
            (groups if len(with_hub) > MAX_ALL_PAIRS else parts).append(with_hub)
            rest.update(dict.fromkeys(set(members) - set(with_hub), k))
        again: list[list[Pair]] = [[] for _ in large]
        for (a, b), v in verdicts.items():  # one pass over the verdicts for all of them
            if v.same and a in rest and rest[a] == rest.get(b):
                again[rest[a]].append((a, b))
        found = [m for edges in again for m in _components(edges)]
        parts += [m for m in found if len(m) <= MAX_ALL_PAIRS]
        large = [m for m in found if len(m) > MAX_ALL_PAIRS]
    groups += [m for m in parts if len(m) == 2]
    parts = [m for m in parts if len(m) > 2]
    # the pairs inside every group, judged together: in parallel across groups, and
    # kept measures looked up at once
    judge({pair(a, b) for m in parts for k, a in enumerate(m) for b in m[k + 1 :]})
    for members in parts:
        groups.extend(_complete(members, verdicts))
    return sorted(groups, key=lambda g: (-len(g), g[0])), verdicts


def _components(same: list[Pair]) -> list[list[int]]:
    """The connected components (two or more pictures) of these verified pairs."""
    ends = np.array(same, np.int64).reshape(-1, 2)
    return [part.tolist() for part in components(ends[:, 0], ends[:, 1])]


def _hubs(large: list[list[int]], verdicts: dict[Pair, Verdict]) -> list[int]:
    """Each of these components' member with the most pairs verified one picture inside
    it (of equals, the smallest id), in one pass over the verdicts."""
    owner = {i: k for k, members in enumerate(large) for i in members}
    links: Counter[int] = Counter()
    for (a, b), v in verdicts.items():
        if v.same and a in owner and owner[a] == owner.get(b):
            links[a] += 1
            links[b] += 1
    return [min(members, key=lambda i: (-links[i], i)) for members in large]


def _complete(members: list[int], verdicts: dict[Pair, Verdict]) -> list[list[int]]:
    """Split ``members`` so that inside each part a member is one picture with at least
    half of the others, and no two members were shown to be distinct pictures: of such a
    pair, the member one picture with fewer of the others is set aside (and grouped with
    the others set aside, the same way)."""
    n = len(members)
    same = np.zeros((n, n), bool)
    distinct = np.zeros((n, n), bool)
    for a in range(n):
        for b in range(a + 1, n):
            verdict = verdicts[pair(members[a], members[b])]
            same[a, b] = same[b, a] = verdict.same
            distinct[a, b] = distinct[b, a] = verdict.distinct
    kept = np.ones(n, bool)
    while (clash := (distinct & kept[None, :]).any(axis=1) & kept).any():
        links = (same & kept[None, :]).sum(axis=1)
        # the clashing member with the fewest links goes (the last of equals)
        worst = max(np.flatnonzero(clash), key=lambda k: (-links[k], k))
        kept[worst] = False
    parts = _average([members[k] for k in np.flatnonzero(kept)], ~same[np.ix_(kept, kept)])
    if not kept.all():
        parts += _complete([members[k] for k in np.flatnonzero(~kept)], verdicts)
    return parts


def _average(members: list[int], apart: np.ndarray) -> list[list[int]]:
    """Average linkage on verdicts (``apart``: not one picture), cut at one half."""
    n = len(members)
    if n < 2:
        return []
    dist = apart[np.triu_indices(n, 1)].astype(float)
    if not dist.any():
        return [members]
    labels = fcluster(linkage(dist, "average"), 0.5, "distance")
    parts = [[members[k] for k in np.flatnonzero(labels == lb)] for lb in np.unique(labels)]
    return [p for p in parts if len(p) >= 2]
