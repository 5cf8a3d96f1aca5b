"""Grouping a collection: duplicate tiers, content clusters, safe actions, evaluation."""

from lookalike.grouping.actions import Action, apply, plan, undo
from lookalike.grouping.clusters import find_clusters
from lookalike.grouping.decisions import mark_not_duplicates, not_duplicate_pairs
from lookalike.grouping.duplicates import default_thresholds, find_duplicates, find_in_reference
from lookalike.grouping.evaluate import (
    NearDuplicateSet,
    PairScores,
    ThresholdScore,
    make_near_duplicate_set,
    pair_scores,
    sweep_thresholds,
)
from lookalike.grouping.keep import KEEP_RULE
from lookalike.grouping.neighbours import knn_graph
from lookalike.grouping.reports import (
    TIERS,
    Cluster,
    ClusterReport,
    DuplicateReport,
    Group,
    Member,
    ReferenceReport,
    Thresholds,
)

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
    "ReferenceReport",
    "ThresholdScore",
    "Thresholds",
    "apply",
    "default_thresholds",
    "find_clusters",
    "find_duplicates",
    "find_in_reference",
    "knn_graph",
    "make_near_duplicate_set",
    "mark_not_duplicates",
    "not_duplicate_pairs",
    "pair_scores",
    "plan",
    "sweep_thresholds",
    "undo",
]
