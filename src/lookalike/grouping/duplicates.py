"""Duplicate grouping in three tiers, each reported apart:

* ``exact``: byte-identical files (same SHA-256);
* ``near``: the same picture re-encoded, resized, cropped a little, recoloured, flipped or
  watermarked: cosine similarity at least the near threshold, complete-linked;
* ``similar``: look-alikes such as burst shots: a looser threshold, reported only where it
  joins pictures that are not already one near-duplicate group.

Thresholds are cosine similarities of the set's vectors, calibrated per encoder on the
made near-duplicate set (``lookalike evaluate-groups``); ``threshold`` overrides them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from lookalike.collection import Collection
from lookalike.errors import NotIndexedError
from lookalike.grouping.decisions import not_duplicate_pairs
from lookalike.grouping.keep import (
    DEFAULT_POLICY,
    DETAIL_SIDE,
    Candidate,
    check_policy,
    choose_keep,
    describe,
    detail,
)
from lookalike.grouping.linkage import Pair, link, pair
from lookalike.grouping.measures import KeptMeasures
from lookalike.grouping.neighbours import knn_graph, pair_cosine
from lookalike.grouping.pixel_neighbours import add_pixel_candidates, small_ids
from lookalike.grouping.reports import (
    TIERS,
    DuplicateReport,
    Group,
    Member,
    ReferenceReport,
    Thresholds,
)
from lookalike.grouping.verified import candidate_pairs, verified_groups
from lookalike.grouping.verifier import Verifier
from lookalike.grouping.verify import TINY, Rules, Verdict
from lookalike.grouping.verify_fit import load_rules
from lookalike.results import KnnGraph, Progress, Skipped
from lookalike.store import FileRow

#: Calibrated with ``lookalike evaluate-groups`` on the near-duplicate set made from
#: scikit-image's photos: ``near`` is the strictest threshold (0.05 steps) whose pairwise
#: F1 is within 0.015 of the best, so burst shots are less often called duplicates;
#: ``similar`` sits around the largest similarity seen between different photos.
#: The sweeps are in docs/grouping.md.
#: Keyed by (encoder, pooling); (encoder, None) serves the encoder's other poolings.
CALIBRATED = {
    ("efficientnet-lite0", "multi"): Thresholds(near=0.85, similar=0.75),
    ("efficientnet-lite0", None): Thresholds(near=0.80, similar=0.50),
    ("efficientnet-lite2", "multi"): Thresholds(near=0.85, similar=0.80),
    ("efficientnet-lite2", None): Thresholds(near=0.70, similar=0.55),
    ("color-histogram", None): Thresholds(near=0.95, similar=0.90),
}
GENERIC = Thresholds(near=0.90, similar=0.75)
#: With verification the near threshold only admits candidates, so it sits lower: the
#: cosine above which nearly every true copy lies (calibration half of the hard set, fitted
#: per encoder and pooling by ``lookalike evaluate-groups --set hard --model NAME``).
VERIFY_GATES = {
    ("efficientnet-lite0", "multi"): 0.70,
    ("efficientnet-lite2", "multi"): 0.70,
    ("efficientnet-lite0", "avg"): 0.60,
    ("efficientnet-lite0", "max"): 0.60,
    ("color-histogram", None): 0.65,
}
GENERIC_GATE = 0.8


def verify_gate(encoder: str, pooling: str | None = None) -> float:
    """The candidate threshold of an encoder and pooling when pairs are verified."""
    return VERIFY_GATES.get((encoder, pooling), VERIFY_GATES.get((encoder, None), GENERIC_GATE))


NEIGHBOURS = 10
#: With verification, each picture's this many nearest neighbours (at the candidate
#: threshold) become candidate pairs: a copy sits among its original's first few, and
#: the verified groups then have every pair inside them verified. The fewest with which
#: the calibration half of the near-duplicate set groups as with more (with 3, some
#: watermarked copies lose their group); on a library of look-alike views, 4 rather
#: than 5 leave out a fifth of the candidates and a tenth of the verdicts.
CANDIDATES = 4
#: Tiny pictures (icons, 28-px items) look alike by the hundred: a noisy or redrawn copy
#: of one often sits below ten look-alikes in its original's neighbour list, so their
#: candidate pairs come from this many neighbours (their verification is cheap).
TINY_NEIGHBOURS = 40


def tiny_ids(rows: dict[int, FileRow]) -> set[int]:
    """The ids of tiny pictures (shorter side under the verifier's tiny limit; a picture
    of unknown size is not counted)."""
    return {i for i, r in rows.items() if r.width and r.height and min(r.width, r.height) < TINY}


def content_order(rows: dict[int, FileRow]) -> Callable[[int], tuple[int, str, str]]:
    """The verifier's tie-break between two pictures with as many pixels
    (:meth:`Verifier.first`): the larger file first (the one less compressed), then by
    content hash and path, so that renaming a file changes no verdict."""
    return lambda i: (-(rows[i].size or 0), rows[i].sha256 or "", str(rows[i].path))


def default_thresholds(encoder: str, pooling: str | None = None) -> Thresholds:
    """The calibrated thresholds of an encoder and pooling, or generic ones."""
    return CALIBRATED.get((encoder, pooling)) or CALIBRATED.get((encoder, None), GENERIC)


#: Groups up to this size list every pair's cosine in the report; a larger one (a loose
#: threshold over many look-alikes) lists each member's cosine to the kept one: its n^2
#: pairs would be millions of lines nobody reads.
MAX_LISTED = 50


def _members(
    col: Collection,
    ids: list[int],
    rows: dict[int, FileRow],
    sim: np.ndarray | None,
    content: dict[int, float],
    policy: str,
    verdicts: dict[Pair, Verdict] | None = None,
    details: dict[int, float] | None = None,
) -> tuple[list[Member], str]:
    """The group's members, the one to keep first, and why it is kept. ``sim``: the
    members' cosine matrix (None for byte-identical ones). Content shares count only
    where every member has one (each was verified)."""
    if not all(i in content for i in ids):
        content = {}
    verdicts = verdicts or {}
    content = _shared_content(content, rows, verdicts)
    n = len(ids)
    if n * (n - 1) // 2 == len(verdicts):  # every pair verified: closeness on the pixels
        at = {i: k for k, i in enumerate(ids)}
        closeness = np.zeros((n, n))
        for (a, b), v in verdicts.items():
            closeness[at[a], at[b]] = closeness[at[b], at[a]] = -v.signals.difference
    else:
        closeness = np.zeros((n, n)) if sim is None else np.round(sim.astype(np.float64), 4)
        np.fill_diagonal(closeness, 0.0)
    details = details or {}
    cands = [
        Candidate(
            col.root / rows[i].path,
            rows[i].width,
            rows[i].height,
            rows[i].size,
            rows[i].format,
            content.get(i, 1.0),
            details.get(i),
        )
        for i in ids
    ]
    keep, why = choose_keep(cands, policy, closeness)
    members = [
        Member(i, c.path, c.width, c.height, c.size, c.format, k == keep)
        for k, (i, c) in enumerate(zip(ids, cands, strict=True))
    ]
    return sorted(members, key=lambda m: (not m.keep, str(m.path))), why


def _shared_content(
    content: dict[int, float], rows: dict[int, FileRow], verdicts: dict[Pair, Verdict]
) -> dict[int, float]:
    """Content shares where copies of one size in the same framing share the largest of
    theirs: they show one picture, so a share that falls short of another's is a mark on
    a plain ground trimmed into the box (a watermark widens the box of the copy it is
    on, so the unmarked original has the smaller one) or a picture shrunk inside bars on
    the same canvas (which the least share would impose on its original)."""
    if not content:
        return content
    out = dict(content)
    changed = True
    while changed:  # the largest spreads along chains of such pairs
        changed = False
        for (a, b), v in verdicts.items():
            if not (v.same and v.signals.same_framing and a in out and b in out):
                continue
            if (rows[a].width, rows[a].height) != (rows[b].width, rows[b].height):
                continue
            widest = max(out[a], out[b])
            if out[a] != widest or out[b] != widest:
                out[a] = out[b] = widest
                changed = True
    return out


def _listed(ids: list[int], sim: np.ndarray, keep: int) -> list[tuple[int, int, float]]:
    """The cosines a report lists: every pair of a small group, else each member's to
    the kept one."""
    n, k = len(ids), ids.index(keep)
    if n <= MAX_LISTED:
        places = [(a, b) for a in range(n) for b in range(a + 1, n)]
    else:
        places = [(k, b) for b in range(n) if b != k]
    return [(*pair(ids[a], ids[b]), round(float(sim[a, b]), 4)) for a, b in places]


def _verdicts_within(
    groups: list[list[int]], verdicts: dict[Pair, Verdict]
) -> list[dict[Pair, Verdict]]:
    """Each group's verdicts: those on pairs of its own members (one pass over all)."""
    group_of = {m: g for g, ids in enumerate(groups) for m in ids}
    out: list[dict[Pair, Verdict]] = [{} for _ in groups]
    for (a, b), v in verdicts.items():
        g = group_of.get(a)
        if g is not None and group_of.get(b) == g:
            out[g][(a, b)] = v
    return out


def _details(judge: Verifier | None, ids: list[int], rows: dict[int, FileRow]) -> dict[int, float]:
    """The keep rule's lossy-copy measure for a group of small pictures (each at most
    ``DETAIL_SIDE`` px, so its fingerprint holds every pixel); empty otherwise."""
    if judge is None:
        return {}
    if all(max(rows[i].width or 0, rows[i].height or 0) <= DETAIL_SIDE for i in ids):
        judge.prepare(ids)  # kept measures spared the fingerprints of a later run
    prints = [judge.prints.get(i) for i in ids]
    if not prints or any(fp is None or max(fp.width, fp.height) > DETAIL_SIDE for fp in prints):
        return {}
    return {i: detail(fp.full) for i, fp in zip(ids, prints, strict=True) if fp is not None}


def _similarity(ids: list[int], vectors: dict[int, np.ndarray]) -> np.ndarray:
    """The members' cosine matrix."""
    v = np.stack([vectors[i] for i in ids]).astype(np.float32)
    v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return v @ v.T


def find_duplicates(
    col: Collection,
    *,
    threshold: float | None = None,
    similar_threshold: float | None = None,
    model: str | None = None,
    pooling: str | None = None,
    graph: KnnGraph | None = None,
    progress: Callable[[Progress], None] | None = None,
    verify: bool = True,
    verifier: Rules | Verifier | None = None,
    workers: int | None = None,
    keep: str = DEFAULT_POLICY,
    candidates: int = CANDIDATES,
    reuse: bool = True,
) -> DuplicateReport:
    """Group a collection's images into exact, near-duplicate and look-alike tiers.

    With ``verify`` (the default), the near tier holds only pairs the pixel verifier
    calls one picture; ``threshold`` is then the cosine a pair needs to be a candidate.
    Without it, the near tier is every pair above ``threshold`` (complete-linked).
    ``keep`` is the policy that picks each group's image to keep (see ``grouping.keep``).
    ``verifier`` is the rules to verify with (the shipped ones by default) or a
    :class:`Verifier` already used on this collection, whose verdicts are reused;
    ``candidates`` how many of each picture's nearest neighbours it verifies. The pixel
    measures of every run are kept in the catalogue, and a later run judges the pairs it
    has seen again on them rather than measuring them again (``reuse=False`` measures
    every pair afresh, replacing what was kept); a :class:`Verifier` passed in keeps
    what it was made to keep."""
    check_policy(keep)
    table = col.vectors(model=model, pooling=pooling)
    encoder = table.encoder
    base = default_thresholds(encoder, table.pooling)
    if verify and threshold is None:
        base = Thresholds(verify_gate(encoder, table.pooling), base.similar)
    near = base.near if threshold is None else float(threshold)
    similar = base.similar if similar_threshold is None else float(similar_threshold)
    similar = min(similar, near)
    rows = col.files([int(i) for i in table.ids])
    by_id = {int(i): v for i, v in zip(table.ids.tolist(), table.vectors, strict=True)}

    # Exact tier: same content hash. One representative per hash goes on.
    by_hash: dict[str, list[int]] = defaultdict(list)
    for i in table.ids.tolist():
        by_hash[rows[i].sha256 or f"id{i}"].append(i)
    exact = [sorted(g) for g in by_hash.values() if len(g) >= 2]
    # byte-identical members need no similarities; the copy an exact group keeps stands
    # for it in the other tiers
    exact_members = [_members(col, g, rows, None, {}, keep) for g in exact]
    chosen = {g[0]: members[0].id for g, (members, _) in zip(exact, exact_members, strict=True)}
    reps = np.array(
        sorted(chosen.get(g[0], g[0]) for g in map(sorted, by_hash.values())), dtype=np.int64
    )

    deep = tiny_ids(rows) if verify else set()
    if graph is None:
        k = TINY_NEIGHBOURS if deep else NEIGHBOURS
        graph = knn_graph(col, k, model=model, pooling=pooling, progress=progress)
    nearest = graph.first(NEIGHBOURS)  # tiers link on these; only candidates go deeper
    blocked = not_duplicate_pairs(col)

    def vec(ids: list[int]) -> np.ndarray:
        return np.stack([by_id[i] for i in ids])

    verdicts: dict[Pair, Verdict] = {}
    unreadable: list[Skipped] = []
    judge: Verifier | None = None
    if verify:
        if isinstance(verifier, Verifier):
            judge = verifier
        else:
            judge = Verifier(
                verifier or load_rules(),
                lambda i: col.root / rows[i].path,
                workers=workers,
                kept=KeptMeasures(col, rows, reuse=reuse),
                order=content_order(rows),
                progress=(lambda made, total: progress(Progress("fingerprints", made, total)))
                if progress
                else None,
            )
        candidates = candidate_pairs(
            graph, near, nodes=set(reps.tolist()), blocked=blocked, depth=candidates, deep=deep
        )

        cosine = pair_cosine(table.ids, table.vectors)
        small = small_ids({i: (rows[i].width, rows[i].height) for i in reps.tolist()})
        if progress and small:
            progress(Progress("pixels", 0, len(small)))
        candidates = add_pixel_candidates(candidates, judge, small, cosine, near, blocked=blocked)
        if progress and small:
            progress(Progress("pixels", len(small), len(small)))

        def tick(done: int, total: int) -> None:
            if progress:
                progress(Progress("verify", done, total))

        near_groups, verdicts = verified_groups(candidates, judge, cosine, tick)
        unreadable = [Skipped(rows[i].path, r) for i, r in sorted(judge.failed.items())]
    else:
        near_groups = link(nearest, near, nodes=reps, blocked=blocked, vectors=vec)
    loose = link(nearest, similar, nodes=reps, blocked=blocked, vectors=vec)
    near_of = {m: gi for gi, g in enumerate(near_groups) for m in g}
    similar_groups = []
    for g in loose:
        units = {near_of.get(m, -1 - m) for m in g}
        if len(units) >= 2:
            similar_groups.append(g)

    groups = [
        Group(k + 1, "exact", members, [], {}, why)
        for k, (members, why) in enumerate(exact_members)
    ]
    members_of = {m for g in near_groups + similar_groups for m in g}
    content = judge.content(members_of) if judge is not None else {}
    for tier, found in (("near", near_groups), ("similar", similar_groups)):
        for ids, mine in zip(found, _verdicts_within(found, verdicts), strict=True):
            sim = _similarity(ids, by_id)
            small = _details(judge, ids, rows) if tier == "near" and keep != "largest" else {}
            members, why = _members(col, ids, rows, sim, content, keep, mine, small)
            listed = _listed(ids, sim, next(m.id for m in members if m.keep))
            groups.append(Group(len(groups) + 1, tier, members, listed, mine, why))
    if judge is not None and judge.kept is not None:
        judge.kept.close()  # after the keep rule, whose fingerprints are kept too
    if progress:
        progress(Progress("group", 1, 1))
    return DuplicateReport(
        root=col.root,
        vector_set=table.vector_set,
        encoder=encoder,
        thresholds=Thresholds(near, similar),
        images=len(table),
        groups=groups,
        verified=verify,
        unreadable=unreadable,
        keep_rule=describe(keep),
        keep_policy=keep,
        measured=judge.measured if judge is not None else 0,
        reused=judge.kept.reused if judge is not None and judge.kept is not None else 0,
        unkept=judge.kept.error if judge is not None and judge.kept is not None else None,
    )


def find_in_reference(
    new: Collection,
    reference: Collection,
    *,
    threshold: float | None = None,
    k: int = 5,
) -> ReferenceReport:
    """For each image of ``new``, its near-duplicates in ``reference`` (cosine >= the near
    threshold), without grouping the reference again. Both must use the same encoder."""
    ref_set = reference.vectors_set()
    table = new.vectors(model=ref_set.encoder, pooling=ref_set.pooling)
    if table.vector_set != ref_set.key:
        raise NotIndexedError(
            f"{new.root} has no vectors of {ref_set.key}; index it with --model {ref_set.encoder}"
        )
    t = (
        default_thresholds(ref_set.encoder, ref_set.pooling).near
        if threshold is None
        else float(threshold)
    )
    out: dict[Path, list[tuple[Path, float]]] = {}
    for rel, vector in zip(table.paths, table.vectors, strict=True):
        res = reference.search(vector, k=k, model=ref_set.encoder, pooling=ref_set.pooling)
        hits = [(m.path, m.score) for m in res if m.score >= t]
        if hits:
            out[new.root / rel] = hits
    return ReferenceReport(reference.root, out)


__all__ = [
    "CALIBRATED",
    "TIERS",
    "DuplicateReport",
    "Group",
    "Member",
    "Pair",
    "Thresholds",
    "default_thresholds",
    "find_duplicates",
    "find_in_reference",
    "pair",
]
