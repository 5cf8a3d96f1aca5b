"""Grouping a collection: duplicate tiers, content clusters, safe actions, evaluation."""

from lookalike.grouping.actions import Action, apply, plan, undo
from lookalike.grouping.clusters import Cluster, ClusterReport, find_clusters
from lookalike.grouping.duplicates import (
    TIERS,
    DuplicateReport,
    Group,
    Member,
    Thresholds,
    default_thresholds,
    find_duplicates,
    find_in_reference,
)
from lookalike.grouping.evaluate import (
    NearDuplicateSet,
    PairScores,
    make_near_duplicate_set,
    pair_scores,
)
from lookalike.grouping.keep import KEEP_RULE

__all__ = [
    "KEEP_RULE",
    "TIERS",
    "Action",
    "Cluster",
    "ClusterReport",
    "DuplicateReport",
    "Group",
    "Member",
    "NearDuplicateSet",
    "PairScores",
    "Thresholds",
    "apply",
    "default_thresholds",
    "find_clusters",
    "find_duplicates",
    "find_in_reference",
    "make_near_duplicate_set",
    "pair_scores",
    "plan",
    "undo",
]
