"""Groups page: near-duplicate tiers and content clusters as grids, the suggested keep,
"not duplicates" decisions and dry-run moves, through the same calls as the CLI."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from lookalike.errors import LookalikeError
from lookalike.grouping import TIERS, find_clusters, find_duplicates, mark_not_duplicates, plan
from lookalike.ui.shared import pick_collection, thumb

TITLES = {"exact": "Exact copies", "near": "Near-duplicates", "similar": "Look-alikes"}


def render() -> None:
    """The page."""
    st.title("Groups")
    with st.sidebar:
        col = pick_collection("groups-collection")
        mode = st.radio("Mode", ["duplicates", "clusters"], key="groups-mode")
    if col is None:
        return
    if not col.is_indexed:
        st.info("Index this collection on the Search page first.")
        return
    try:
        if mode == "clusters":
            algo = st.sidebar.selectbox(
                "Algorithm", ["auto", "kmeans", "graph", "hdbscan"], key="groups-algo"
            )
            k = 0
            if algo in ("auto", "kmeans"):
                k = st.sidebar.number_input("k (0 = automatic)", 0, 500, 0, key="groups-k")
            report = find_clusters(col, k=int(k) or None, algo=algo)
            outliers = sum(len(c.members) for c in report.clusters if c.label == -1)
            st.caption(
                f"{report.k} clusters"
                + (f" and {outliers} outliers" if outliers else "")
                + f" · {report.vector_set} · {report.algo}: {report.criterion}"
            )
            if report.runners_up:
                st.caption(
                    "Other k to try: "
                    + ", ".join(f"{kk} (modularity {sc:.3f})" for kk, sc in report.runners_up)
                )
            sizes = {
                ("outliers" if c.label == -1 else f"cluster {c.label}"): len(c.members)
                for c in report.clusters
            }
            st.bar_chart({"images": sizes}, horizontal=True)
            for c in report.clusters[:30]:
                name = "outliers" if c.label == -1 else f"cluster {c.label}"
                st.subheader(f"{name} · {len(c.members)} images")
                cols = st.columns(8)
                for i, p in enumerate([c.medoid, *[m for m in c.members if m != c.medoid][:7]]):
                    cols[i].image(thumb(p, 160), caption="medoid" if i == 0 else p.name)
            return
        threshold = st.sidebar.slider(
            "Near-duplicate similarity", 0.3, 1.0, 0.80, 0.01, key="groups-threshold"
        )
        report = find_duplicates(col, threshold=threshold)
    except LookalikeError as exc:
        st.error(str(exc))
        return
    checked = (
        f" · verified on the pixels: {report.measured:,} pairs measured, "
        f"{report.reused:,} judged on measures kept from earlier runs"
        if report.verified
        else ""
    )
    st.caption(f"{report.images:,} images · {report.encoder}{checked} · {report.keep_rule}")
    for tier in TIERS:
        groups = report.tier(tier)
        st.header(f"{TITLES[tier]} ({len(groups)})")
        for g in groups[:50]:
            with st.container(border=True):
                sims = g.similarity_to_keep()
                if g.keep_reason:
                    st.caption(f"Kept {g.keep.path.name}: {g.keep_reason}")
                cols = st.columns(min(6, len(g.members)))
                for i, m in enumerate(g.members[:6]):
                    label = "keep" if m.keep else f"cos {sims.get(m.id, float('nan')):.3f}"
                    cols[i].image(thumb(m.path, 180), caption=f"{label} · {m.path.name}")
                if st.button("Not duplicates", key=f"nd-{tier}-{g.id}"):
                    n = mark_not_duplicates(col, [m.path for m in g.members])
                    st.success(f"Recorded {n} pairs; they will not be grouped again.")
    st.header("Dry run")
    target = st.text_input("Move (or link) the images not kept to", key="groups-target")
    how = st.radio("Action", ["move", "link"], horizontal=True, key="groups-how")
    if target:
        try:
            kw = {"move_to": Path(target)} if how == "move" else {"link_to": Path(target)}
            actions = plan(report, **kw)
        except LookalikeError as exc:
            st.error(str(exc))
        else:
            st.write(
                f"Would {how} {len(actions)} files (nothing is changed from the UI; "
                f"use `lookalike group {col.root} --{how}-to {target} --apply`):"
            )
            st.code("\n".join(f"{a.src} -> {a.dst}" for a in actions[:200]) or "(nothing)")
