"""Retrieval evaluation: metrics on plain arrays, grids of configurations, data sets."""

from lookalike.evaluation.metrics import (
    Evaluation,
    QueryScores,
    Summary,
    bootstrap,
    evaluate,
    rankings,
    score_ranking,
)

__all__ = [
    "Evaluation",
    "QueryScores",
    "Summary",
    "bootstrap",
    "evaluate",
    "rankings",
    "score_ranking",
]
