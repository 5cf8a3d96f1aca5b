"""Compare page: the evaluation grid (encoder x embedding method x metric x index) on a
labelled collection (class = sub-folder), as a table and a chart, with each
configuration's best and worst queries."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from lookalike.config import DEFAULT_POOLING, METRICS, POOLINGS
from lookalike.encoders import list_encoders
from lookalike.errors import LookalikeError
from lookalike.evaluation.grid import query_sheets, run_grid
from lookalike.ui.shared import pick_collection

INDEXES = ("exact", "hnsw", "ivf", "lsh")


def render() -> None:
    """The page."""
    st.title("Compare configurations")
    with st.sidebar:
        col = pick_collection("compare-collection")
    if col is None:
        return
    names = [e.name for e in list_encoders() if e.name != "autoencoder"]
    names += [
        r.name for r in __import__("lookalike.training.runs", fromlist=["x"]).list_runs(col.db)
    ]
    models = st.multiselect("Encoders", names, default=["efficientnet-lite0"])
    poolings = st.multiselect("Embedding methods", POOLINGS, default=[DEFAULT_POOLING])
    metrics = st.multiselect("Distances", METRICS, default=["cosine"])
    indexes = st.multiselect("Indexes", INDEXES, default=["exact"])
    k = st.slider("k", 1, 32, 8)
    if not st.button("Evaluate", type="primary"):
        st.caption("Every image queries all the others; same sub-folder = relevant.")
        return
    try:
        with st.spinner("Embedding what is missing and scoring…"):
            rows = run_grid(
                col, models=models, poolings=poolings, metrics=metrics, indexes=indexes, k=k
            )
    except LookalikeError as exc:
        st.error(str(exc))
        return
    table = [
        {
            "model": r.config.model,
            "scheduler": r.config.scheduler,
            "embedding": r.config.pooling or "-",
            "metric": r.config.metric,
            "index": r.config.index,
            **{n: round(s.mean, 4) for n, s in r.evaluation.summary.items()},
        }
        for r in rows
    ]
    st.dataframe(table, width="stretch")
    headline = rows[0].evaluation.headline
    st.bar_chart({r.config.label: r.evaluation.summary[headline].mean for r in rows})
    out = Path(tempfile.mkdtemp(prefix="lookalike-compare-"))
    for i, r in enumerate(rows):
        st.subheader(r.config.label)
        st.image(str(query_sheets(r, col.root, out / f"q{i}.png")))
