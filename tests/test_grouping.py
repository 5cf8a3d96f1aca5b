"""Grouping: duplicate tiers, thresholds, keep rule, safe actions, decisions, reference
look-ups, clusters, and linear memory."""

from __future__ import annotations

import json
import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from imagegen import scene, variant
from lookalike import Collection
from lookalike.cli.main import main
from lookalike.errors import LookalikeError
from lookalike.grouping import (
    apply,
    find_clusters,
    find_duplicates,
    find_in_reference,
    mark_not_duplicates,
    plan,
    undo,
)
from lookalike.grouping.duplicates import verify_gate
from lookalike.grouping.evaluate import pair_scores
from lookalike.grouping.linkage import link
from lookalike.grouping.verified import candidate_pairs
from lookalike.results import KnnGraph
from lookalike.store import Catalog, FileRecord, VectorStore

CLEAR = ["shapes-1", "shapes-2", "shapes-7", "stripes-5"]  # scenes the CNN tells apart


@pytest.fixture
def indexed(photos: Path) -> Path:
    shutil.copyfile(photos / "shapes-2.jpg", photos / "copy-of-shapes-2.jpg")
    with Collection.open(photos) as col:
        col.index(workers=1)
    return photos


def _names(group) -> set[str]:  # type: ignore[no-untyped-def]
    return {m.path.name for m in group.members}


def test_tiers(indexed: Path) -> None:
    with Collection.open(indexed) as col:
        report = find_duplicates(col)
    exact = report.tier("exact")
    assert [_names(g) for g in exact] == [{"shapes-2.jpg", "copy-of-shapes-2.jpg"}]
    near = report.tier("near")
    # periodic stripes are left out: a crop of them aligns in many places, and the
    # verifier does not call it a copy at the shipped limits
    for name in [c for c in CLEAR if not c.startswith("stripes")]:
        variants = {f"{name}-cropped.png", f"{name}-resized.png"}
        group = next(g for g in near if variants <= _names(g))
        assert _names(group) - variants in ({f"{name}.jpg"}, {"copy-of-shapes-2.jpg"})
        assert group.keep.path.suffix == ".jpg"  # the full-size original is kept
        sims = [s for *_, s in group.similarities]
        assert len(sims) == 3 and min(sims) >= report.thresholds.near
    # Look-alikes join different pictures, never only one near-duplicate group.
    near_sets = [_names(g) for g in near]
    for g in report.tier("similar"):
        assert _names(g) not in near_sets and len(g.members) >= 2
    # Verified grouping: the near threshold is the candidates' cosine, the pixels decide.
    assert report.verified and report.thresholds.near == verify_gate("efficientnet-lite0", "multi")
    assert report.encoder == "efficientnet-lite0"
    for g in near:  # every pair verified; each member one picture with half the others
        n = len(g.members)
        assert len(g.verdicts) == n * (n - 1) // 2
        for m in g.members:
            same = sum(v.same for p, v in g.verdicts.items() if m.id in p)
            assert same >= (n - 1) / 2


def test_threshold_override(indexed: Path) -> None:
    with Collection.open(indexed) as col:
        strict = find_duplicates(col, threshold=0.9999, similar_threshold=0.9999)
        loose = find_duplicates(col, threshold=0.3, verify=False)
    assert not strict.tier("near") and len(strict.tier("exact")) == 1
    with Collection.open(indexed) as col:
        default = find_duplicates(col, verify=False)
    biggest = max(len(g.members) for g in default.tier("near"))
    assert max(len(g.members) for g in loose.tier("near")) > biggest
    assert loose.thresholds.near == 0.3


def test_chains_are_split_by_complete_linkage() -> None:
    # a ~ b ~ c in a chain, but a and c far apart: edges alone would join all three.
    angles = np.radians([0.0, 20.0, 40.0])  # cos 20 deg = 0.94, cos 40 deg = 0.77
    v = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    sims = v @ v.T
    graph = KnnGraph(
        np.array([1, 2, 3]),
        np.array([[2, 3], [1, 3], [2, 1]]),
        np.array(
            [[sims[0, 1], sims[0, 2]], [sims[1, 0], sims[1, 2]], [sims[2, 1], sims[2, 0]]],
            np.float32,
        ),
    )
    t = 0.9
    assert sims[0, 1] > t and sims[1, 2] > t and sims[0, 2] < t
    assert link(graph, t) == [[1, 2, 3]]  # components alone chain
    groups = link(graph, t, vectors=lambda ids: v[[i - 1 for i in ids]])
    assert all(len(g) == 2 for g in groups) and len(groups) == 1


def test_a_component_too_large_to_check_pairwise_is_cut_along_its_stronger_edges(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Eight tight clusters chained by looser links into one component larger than
    complete linkage takes: it is cut where the links are weakest, and every group still
    holds only members similar to each other (kept whole, it was one group of 40)."""
    from lookalike.grouping import linkage

    centres = np.radians(np.arange(8) * 24.0)  # neighbours cos 24 deg = 0.91, next 0.67
    angles = (centres[:, None] + np.radians([-0.5, -0.25, 0.0, 0.25, 0.5])).ravel()
    v = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    sims = v @ v.T
    np.fill_diagonal(sims, -2.0)
    nearest = np.argsort(-sims, axis=1)[:, :6]
    graph = KnnGraph(
        np.arange(1, 41), nearest + 1, np.take_along_axis(sims, nearest, 1).astype(np.float32)
    )
    vectors = lambda ids: v[[i - 1 for i in ids]]  # noqa: E731
    t = 0.9
    assert link(graph, t) == [list(range(1, 41))]  # one chain of all forty
    monkeypatch.setattr(linkage, "MAX_REFINE", 10)
    groups = link(graph, t, vectors=vectors)
    assert sorted(groups) == [list(range(5 * k + 1, 5 * k + 6)) for k in range(8)]
    for g in groups:
        assert (
            sims[np.ix_([i - 1 for i in g], [i - 1 for i in g])] + 3 * np.eye(len(g))
        ).min() >= t


def test_a_large_chain_of_look_alikes_is_checked_against_its_hub() -> None:
    """A component of verified pairs too large to verify all through: 45 copies of one
    picture stay one group, while a chain of 60 look-alikes (each one picture with its
    neighbours only, as windows of one texture read) no longer makes one group of 60."""
    from lookalike.grouping.verified import MAX_ALL_PAIRS, verified_groups
    from lookalike.grouping.verifier import Verifier
    from lookalike.grouping.verify import PairSignals, Verdict
    from lookalike.grouping.verify_fit import load_rules

    chain, copies = list(range(60)), list(range(100, 145))
    assert len(chain) > MAX_ALL_PAIRS and len(copies) > MAX_ALL_PAIRS
    judge = Verifier(load_rules(), lambda i: Path(f"{i}.png"), workers=1)
    signals = PairSignals(0.9, 0.0, 0.0, 0.0, 0.0, 0, 1.0, "direct", False)
    for group, same in ((chain, lambda a, b: b - a <= 1), (copies, lambda a, b: True)):
        for k, a in enumerate(group):  # every verdict known, as a run measures them
            for b in group[k + 1 :]:
                judge._verdicts[(a, b)] = Verdict(same(a, b), signals, "known")
    candidates = {(a, a + 1): 0.9 for a in chain[:-1]}
    candidates |= {(a, b): 0.9 for a in copies[:3] for b in copies if b > a}
    groups, _ = verified_groups(candidates, judge, lambda a, b: 0.9)
    assert sorted(copies) in groups
    on_chain = [g for g in groups if g[0] in chain]
    assert on_chain and all(max(g) - min(g) <= 2 for g in on_chain)


def test_tiny_pictures_draw_candidates_from_deeper_neighbour_lists() -> None:
    """A copy below the first ``depth`` look-alikes is a candidate only for a tiny picture."""
    graph = KnnGraph(
        np.array([1, 2]),
        np.array([[3, 4, 2], [5, 6, 1]]),
        np.array([[0.95, 0.94, 0.9], [0.97, 0.96, 0.9]], np.float32),
    )
    shallow = candidate_pairs(graph, 0.8, depth=2)
    assert (1, 2) not in shallow and len(shallow) == 4
    deep = candidate_pairs(graph, 0.8, depth=2, deep={1})
    assert deep[(1, 2)] == pytest.approx(0.9) and len(deep) == 5
    assert graph.first(2).neighbours.shape == (2, 2) and graph.first(5) is graph


def test_decisions_persist(indexed: Path) -> None:
    with Collection.open(indexed) as col:
        before = find_duplicates(col)
        group = next(g for g in before.tier("near") if "shapes-7-cropped.png" in _names(g))
        assert mark_not_duplicates(col, [m.path for m in group.members]) == 3
    with Collection.open(indexed) as col:  # a later run, a new process's view
        after = find_duplicates(col)
    for g in after.tier("near") + after.tier("similar"):
        assert len(_names(g) & {m.path.name for m in group.members}) <= 1


def test_actions_dry_run_move_link_undo(indexed: Path, tmp_path: Path) -> None:
    with Collection.open(indexed) as col:
        report = find_duplicates(col)
        db = col.db
    target = tmp_path / "review"
    actions = plan(report, move_to=target)
    assert actions and not target.exists()  # planning moves nothing
    kept = {g.keep.path for g in report.groups if g.tier in ("exact", "near")}
    assert not {Path(a.src) for a in actions} & kept
    journal = apply(actions, db)
    assert journal.exists()
    for a in actions:
        assert Path(a.dst).exists() and not Path(a.src).exists()
        assert Path(a.dst).relative_to(target) == Path(a.src).relative_to(indexed)
    _, undone = undo(db)
    assert len(undone) == len(actions)
    assert all(Path(a.src).exists() and not Path(a.dst).exists() for a in actions)

    links = plan(report, link_to=tmp_path / "links")
    apply(links, db)
    assert all(Path(a.dst).is_symlink() and Path(a.src).exists() for a in links)
    undo(db)
    assert not any(Path(a.dst).is_symlink() for a in links)
    with pytest.raises(LookalikeError, match="inside the collection"):
        plan(report, move_to=indexed / "dups")


def test_against_reference(indexed: Path, tmp_path: Path) -> None:
    new = tmp_path / "incoming"
    new.mkdir()
    variant(scene("shapes", 7), "flipped").save(new / "flipped-7.png")
    scene("shapes", 1234).save(new / "unrelated.png")
    with Collection.open(new) as col:
        col.index(workers=1)
        with Collection.open(indexed) as ref:
            found = find_in_reference(col, ref)
    assert set(found) == {new / "flipped-7.png"}
    assert any(p.name.startswith("shapes-7") for p, _ in found[new / "flipped-7.png"])


def test_clusters(indexed: Path) -> None:
    with Collection.open(indexed) as col:
        fixed = find_clusters(col, k=4)
        auto = find_clusters(col, algo="kmeans")
        graph = find_clusters(col)
        dense = find_clusters(col, algo="hdbscan", min_cluster_size=2)
    assert fixed.k == 4 and len(fixed.clusters) == 4
    assert sum(len(c.members) for c in fixed.clusters) == 25
    assert all(c.medoid in c.members for c in fixed.clusters)
    assert 2 <= auto.k <= 8 and "modularity" in auto.criterion
    assert auto.runners_up and all(k != auto.k for k, _ in auto.runners_up)
    assert graph.algo == "graph" and sum(len(c.members) for c in graph.clusters) == 25
    sizes = [len(c.members) for c in fixed.clusters]
    assert sizes == sorted(sizes, reverse=True) and [c.label for c in fixed.clusters] == [
        0,
        1,
        2,
        3,
    ]
    assert sum(len(c.members) for c in dense.clusters) == 25


def test_pair_scores_by_hand() -> None:
    s = pair_scores([["a", "b", "c"]], [["a", "b"], ["c", "d"]])
    assert (s.predicted_pairs, s.true_pairs) == (3, 2)
    assert s.precision == pytest.approx(1 / 3) and s.recall == pytest.approx(1 / 2)
    assert s.f1 == pytest.approx(0.4)


def _fake_collection(root: Path, n: int, dim: int, per_centre: int = 4) -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(-(-n // per_centre), dim))
    x = centres[np.arange(n) // per_centre] + 0.05 * rng.normal(size=(n, dim))
    x = x.astype(np.float32)
    cat = Catalog(root / ".lookalike" / "catalog.db")
    vset = cat.ensure_set(
        key="fake|avg|8|v",
        encoder="fake",
        version="v",
        pooling="avg",
        image_size=8,
        dim=dim,
        options={},
    )
    shard = VectorStore(root / ".lookalike" / "vectors").write_shard(vset.id, x)
    cat.record(
        [
            FileRecord(f"f{i:06d}.jpg", 1, 1, sha256=f"h{i}", width=8, height=8, format="JPEG")
            for i in range(n)
        ],
        set_id=vset.id,
        shard=shard,
    )
    cat.close()


def test_grouping_memory_is_linear(tmp_path: Path) -> None:
    """30,000 vectors: an all-pairs matrix would need 3.6 GB; grouping stays far below."""
    n = 30_000
    _fake_collection(tmp_path, n, 16)
    with Collection.open(tmp_path) as col:
        tracemalloc.start()
        # made vectors have no pictures behind them: the cosine-only grouping is measured
        report = find_duplicates(col, threshold=0.98, similar_threshold=0.98, verify=False)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < 200 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    sizes = [len(g.members) for g in report.tier("near")]
    assert len(sizes) > n // 8 and max(sizes) <= 4  # quadruplets found, not chained


def test_a_large_group_lists_cosines_to_the_kept_image_only(tmp_path: Path) -> None:
    """A loose threshold over many look-alikes makes a group of hundreds: its report
    lists each member's cosine to the kept one, not every pair."""
    from lookalike.grouping.duplicates import MAX_LISTED

    n = 3 * MAX_LISTED
    _fake_collection(tmp_path, n, 16, per_centre=n)
    with Collection.open(tmp_path) as col:
        report = find_duplicates(col, threshold=0.9, verify=False)
    (group,) = report.tier("near")
    assert len(group.members) == n
    keep = group.keep.id
    assert len(group.similarities) == n - 1
    assert all(keep in (a, b) and s >= 0.9 for a, b, s in group.similarities)
    assert len(group.similarity_to_keep()) == n


def test_cli_group(indexed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_csv, out_html, grids = tmp_path / "g.csv", tmp_path / "g.html", tmp_path / "grids"
    assert (
        main(
            [
                "group",
                str(indexed),
                "--csv",
                str(out_csv),
                "--html",
                str(out_html),
                "--grid",
                str(grids),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "Exact copies: 1 group," in text and "keep" in text
    assert out_csv.read_text().count("\n") > 5 and "<img" in out_html.read_text()
    assert len(list(grids.glob("*.png"))) >= 3

    assert main(["group", str(indexed), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["thresholds"]["near"] == verify_gate("efficientnet-lite0", "multi")
    assert data["groups"][0]["tier"] == "exact"
    # measured again on one thread: the same groups, every pair measured anew
    assert main(["group", str(indexed), "--json", "--remeasure", "--workers", "1"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["pairs_measured"] > 0 and again["pairs_reused"] == 0

    def members(d: dict) -> list:  # type: ignore[type-arg]
        return sorted(sorted(m["path"] for m in g["members"]) for g in d["groups"])

    assert members(again) == members(data)

    review = tmp_path / "review"
    assert main(["group", str(indexed), "--move-to", str(review)]) == 0
    assert "dry run" in capsys.readouterr().out and not review.exists()
    assert main(["group", str(indexed), "--move-to", str(review), "--apply"]) == 0
    assert review.exists() and "undo with" in capsys.readouterr().out
    assert main(["undo", str(indexed)]) == 0
    assert "undid" in capsys.readouterr().out and not any(review.rglob("*.jpg"))

    assert (
        main(
            [
                "not-duplicates",
                str(indexed),
                str(indexed / "shapes-1.jpg"),
                str(indexed / "variants" / "shapes-1-resized.png"),
            ]
        )
        == 0
    )
    assert "recorded 1 pairs" in capsys.readouterr().out
    assert main(["group", str(indexed), "--mode", "clusters", "--k", "3"]) == 0
    assert "3 clusters" in capsys.readouterr().out


def test_thresholds_follow_encoder_and_pooling() -> None:
    """Calibrated per (encoder, pooling); another pooling of a known encoder falls back to
    the encoder's, an unknown encoder to the generic pair."""
    from lookalike.grouping.duplicates import GENERIC, default_thresholds

    assert default_thresholds("efficientnet-lite0", "multi").near == 0.85
    assert default_thresholds("efficientnet-lite0", "avg") == default_thresholds(
        "efficientnet-lite0", "flatten"
    )
    assert default_thresholds("efficientnet-lite0", "avg").near == 0.80
    assert default_thresholds("color-histogram") != GENERIC
    assert default_thresholds("my-plugin", "avg") == GENERIC


def test_undo_cli_reports_json(
    indexed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from lookalike.cli.main import main

    with Collection.open(indexed) as col:
        actions = plan(find_duplicates(col), move_to=tmp_path / "review")
        apply(actions, col.db)
    capsys.readouterr()
    assert main(["undo", str(indexed), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["journal"].endswith(".jsonl") and len(report["undone"]) == len(actions)
    assert {a["src"] for a in report["undone"]} == {a.src for a in actions}


def test_a_member_apart_from_the_kept_one_says_why_it_is_in_the_group() -> None:
    """A near group keeps a member that is one picture with most of the others, though
    not with the kept one (a mirrored copy against a crop): its evidence says so before
    the verdict that found the two apart, while a look-alike group gives the verdict."""
    from dataclasses import replace

    from lookalike.grouping.reports import Group, Member
    from lookalike.grouping.verify import PairSignals, Verdict

    members = [Member(i, Path(f"{i}.jpg"), 64, 64, 1000, "JPEG", i == 0) for i in range(4)]
    signals = PairSignals(0.9, 0.0, 0.0, 0.0, 0.0, 0, 1.0, "direct", False)
    apart = Verdict(False, signals, "not a copy: pixels differ (difference 0.65 > 0.55)")
    same = Verdict(True, signals, "one picture: same framing")
    verdicts = {
        (a, b): apart if (a, b) == (0, 3) else same for a in range(4) for b in range(a + 1, 4)
    }
    group = Group(1, "near", members, [], verdicts)
    assert group.evidence(1) == "one picture: same framing"
    assert group.evidence(3) == (
        "one picture with 2 of the 3 others, though not with the kept one "
        "(not a copy: pixels differ (difference 0.65 > 0.55))"
    )
    assert [m["evidence"] for m in group.to_dict()["members"]] == [""] + [
        group.evidence(i) for i in (1, 2, 3)
    ]
    assert replace(group, tier="similar").evidence(3) == apart.reason
    assert Group(2, "near", members, [], {}).evidence(3) == ""
