"""The typed reports of grouping: duplicate tiers and content clusters, with ``to_dict()``
for ``--json``, the UI and the API."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lookalike.grouping.keep import KEEP_RULE
from lookalike.grouping.linkage import pair
from lookalike.grouping.verify import Verdict
from lookalike.results import Skipped

TIERS = ("exact", "near", "similar")


@dataclass(frozen=True)
class Thresholds:
    """Minimum cosine similarity for a near-duplicate and for a look-alike."""

    near: float
    similar: float


@dataclass(frozen=True)
class Member:
    """One image of a group."""

    id: int
    path: Path
    width: int | None
    height: int | None
    size: int
    format: str | None
    keep: bool


@dataclass(frozen=True)
class Group:
    """A group of one tier, its members (the one to keep first) and pairwise similarities."""

    id: int
    tier: str
    members: list[Member]
    similarities: list[tuple[int, int, float]] = field(default_factory=list)  # (id, id, cos)
    #: the pixel verifier's verdicts on pairs of this group, by (id, id)
    verdicts: dict[tuple[int, int], Verdict] = field(default_factory=dict)
    keep_reason: str = ""  # why the kept member was chosen

    def verdict_with_keep(self, member: int) -> Verdict | None:
        """The verdict on ``member`` and the kept image, if one was made."""
        keep = self.keep.id
        return self.verdicts.get(pair(keep, member))

    def evidence(self, member: int) -> str:
        """Why ``member`` is in this group, in words: the verdict on it and the kept image
        ("" where none was made). A near group keeps a member that is one picture with at
        least half of the others, which need not include the kept one (a mirrored copy
        and a rotated one cannot be aligned with each other): such a member's evidence
        says with how many it is one picture before the verdict that found it apart
        from the kept one."""
        verdict = self.verdict_with_keep(member)
        if verdict is None:
            return ""
        if self.tier != "near" or verdict.same:
            return verdict.reason
        others = [m.id for m in self.members if m.id != member]
        with_it = [self.verdicts.get(pair(member, o)) for o in others]
        same = sum(1 for v in with_it if v is not None and v.same)
        return (
            f"one picture with {same} of the {len(others)} others, though not with the kept "
            f"one ({verdict.reason})"
        )

    @property
    def keep(self) -> Member:
        """The member the keep rule suggests keeping."""
        return next(m for m in self.members if m.keep)

    def similarity_to_keep(self) -> dict[int, float]:
        """Each member's cosine similarity to the kept one, by file id (the kept: 1.0)."""
        keep = self.keep.id
        out = {keep: 1.0}
        for a, b, s in self.similarities:
            if keep in (a, b):
                out[b if a == keep else a] = s
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain data: members with their sizes, pairwise similarities by path."""
        path_of = {m.id: str(m.path) for m in self.members}
        return {
            "id": self.id,
            "tier": self.tier,
            "keep": str(self.keep.path),
            "keep_reason": self.keep_reason,
            "members": [
                {
                    "path": str(m.path),
                    "keep": m.keep,
                    "width": m.width,
                    "height": m.height,
                    "bytes": m.size,
                    "format": m.format,
                    "evidence": "" if m.keep else self.evidence(m.id),
                }
                for m in self.members
            ],
            "similarities": [
                {"a": path_of[a], "b": path_of[b], "cosine": s} for a, b, s in self.similarities
            ],
            "verdicts": [
                {"a": path_of[a], "b": path_of[b], **v.to_dict()}
                for (a, b), v in sorted(self.verdicts.items())
            ],
        }


@dataclass(frozen=True)
class DuplicateReport:
    """All groups of a collection, by tier."""

    root: Path
    vector_set: str
    encoder: str
    thresholds: Thresholds
    images: int
    groups: list[Group]
    keep_rule: str = KEEP_RULE
    keep_policy: str = "original"
    verified: bool = False  # near pairs passed the pixel verifier
    unreadable: list[Skipped] = field(default_factory=list)  # not verifiable (gone, broken)
    measured: int = 0  # pairs measured on the pixels this run
    reused: int = 0  # pairs judged on signals kept from an earlier run
    unkept: str | None = None  # why this run's pixel measures could not be kept, if so

    def tier(self, name: str) -> list[Group]:
        """Groups of one tier."""
        return [g for g in self.groups if g.tier == name]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json`` and the API."""
        return {
            "root": str(self.root),
            "vector_set": self.vector_set,
            "thresholds": {"near": self.thresholds.near, "similar": self.thresholds.similar},
            "keep_rule": self.keep_rule,
            "keep_policy": self.keep_policy,
            "images": self.images,
            "verified": self.verified,
            "pairs_measured": self.measured,
            "pairs_reused": self.reused,
            "measures_not_kept": self.unkept,
            "unreadable": [s.to_dict() for s in self.unreadable],
            "groups": [g.to_dict() for g in self.groups],
        }

    def csv_rows(self) -> list[list[object]]:
        """One row per member of each group, header first (``--csv``)."""
        rows: list[list[object]] = [
            ["group", "tier", "path", "keep", "width", "height", "bytes", "evidence"]
        ]
        for g in self.groups:
            for m in g.members:
                why = "" if m.keep else g.evidence(m.id)
                rows.append([g.id, g.tier, m.path, m.keep, m.width, m.height, m.size, why])
        return rows


@dataclass(frozen=True)
class Cluster:
    """One cluster: label (-1 is HDBSCAN's outliers), members, and its representative."""

    label: int
    members: list[Path]
    medoid: Path


@dataclass(frozen=True)
class ClusterReport:
    """All clusters of a collection and how k was chosen."""

    root: Path
    vector_set: str
    algo: str
    k: int
    criterion: str
    clusters: list[Cluster]
    silhouette: float | None = None
    #: Automatic k: the next best k with their modularity, for a user who wants another.
    runners_up: list[tuple[int, float]] = field(default_factory=list)
    #: Automatic k: every k tried with its modularity, best first.
    k_scores: list[tuple[int, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json`` and the API."""
        return {
            "vector_set": self.vector_set,
            "algo": self.algo,
            "k": self.k,
            "criterion": self.criterion,
            "silhouette": self.silhouette,
            "runners_up": [{"k": k, "modularity": s} for k, s in self.runners_up],
            "clusters": [
                {
                    "label": c.label,
                    "medoid": str(c.medoid),
                    "members": [str(p) for p in c.members],
                }
                for c in self.clusters
            ],
        }


@dataclass(frozen=True)
class ReferenceReport(Mapping[Path, list[tuple[Path, float]]]):
    """The images of a new folder that have near-duplicates in a reference collection:
    a mapping of each such image to its (reference image, cosine) hits, best first."""

    reference: Path
    matches: dict[Path, list[tuple[Path, float]]]

    def __getitem__(self, path: Path) -> list[tuple[Path, float]]:
        return self.matches[path]

    def __iter__(self) -> Iterator[Path]:
        return iter(self.matches)

    def __len__(self) -> int:
        return len(self.matches)

    def to_dict(self) -> dict[str, Any]:
        """Plain data: each new image's path to its hits."""
        return {
            str(k): [{"path": str(p), "cosine": round(s, 4)} for p, s in v]
            for k, v in self.matches.items()
        }
