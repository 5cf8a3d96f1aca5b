"""Search page: pick the collection, encoder, embedding method, metric, k and index; give a
query by upload, by picking an image of the collection, or by clicking a result."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from lookalike.collection import Collection
from lookalike.config import DEFAULT_ENCODER, METRICS, POOLINGS
from lookalike.encoders import list_encoders
from lookalike.encoders.resolve import resolve_encoder
from lookalike.errors import LookalikeError
from lookalike.results import Progress, SearchResult
from lookalike.training.runs import list_runs
from lookalike.ui.shared import pick_collection, save_upload, thumb

INDEX_KINDS = ("auto", "exact", "hnsw", "ivf", "ivfpq", "lsh")
COLUMNS = 4


def index_now(
    col: Collection, model: str, pooling: str | None, kind: str | None, precision: str | None
) -> None:
    """Index (or update) the collection with a progress bar."""
    bar = st.progress(0.0, text="Indexing…")

    def tick(p: Progress) -> None:
        if p.phase == "embed" and p.total:
            bar.progress(min(1.0, p.done / p.total), text=f"Embedding {p.done:,}/{p.total:,}")

    options: dict[str, str] = {"pooling": pooling} if pooling else {}
    if precision and precision != "fp32":
        options["precision"] = precision
    encoder = resolve_encoder(model, col.db, **options)
    report = col.index(encoder, progress=tick, index=kind)
    bar.progress(1.0, text=f"Indexed {report.indexed:,} images ({len(report.skipped)} skipped)")


@st.dialog("Image", width="large")
def enlarge(path: str) -> None:
    """A bigger view of one result."""
    st.image(thumb(path, 1024), caption=path, width="stretch")


def show_results(result: SearchResult, root: Path) -> None:
    """The results as a grid of thumbnails with rank, score and path."""
    better = "higher is closer" if result.metric == "cosine" else "lower is closer"
    st.caption(
        f"{result.encoder} · {result.pooling or '-'} · {result.metric} ({better}) · "
        f"{result.index} index · {len(result)} of {result.searched:,} images · "
        f"{result.seconds * 1000:.0f} ms"
    )
    cols = st.columns(COLUMNS)
    for i, m in enumerate(result):
        with cols[i % COLUMNS]:
            st.image(thumb(m.path), width="stretch")
            rel = m.path.relative_to(root) if m.path.is_relative_to(root) else m.path
            st.markdown(f"**#{m.rank}** · `{m.score:.3f}`  \n{rel}")
            left, right = st.columns(2)
            if left.button("Search", key=f"again-{i}", help="Search from this image"):
                st.session_state["query"] = str(m.path)
                st.rerun()
            if right.button("Enlarge", key=f"big-{i}"):
                enlarge(str(m.path))


def render() -> None:
    """The page."""
    st.title("Search by example")
    with st.sidebar:
        col = pick_collection("search-collection")
    if col is None:
        return
    sets = col.info().vector_sets if col.is_indexed else []
    with st.sidebar:
        indexed = {s.encoder for s in sets}
        names = [e.name for e in list_encoders() if e.name not in ("autoencoder", "metric-head")]
        names += [r.name for r in list_runs(col.db)]  # the models trained here
        order = sorted(names, key=lambda n: (n not in indexed, n != DEFAULT_ENCODER, n))
        model = st.selectbox("Encoder", order, key="search-model")
        pooling = st.selectbox("Embedding method", ["(any)", *POOLINGS], key="search-pooling")
        metric = st.radio("Distance", METRICS, horizontal=True, key="search-metric")
        k = st.slider("Results", 1, 48, 8, key="search-k")
        precision = None
        if model.startswith("efficientnet"):
            precision = st.radio(
                "Precision",
                ["fp32", "int8"],
                horizontal=True,
                key="search-precision",
                help="int8: about twice as fast to index, retrieval within 0.01; its own vectors.",
            )
        rerank = st.checkbox(
            "Re-rank (query expansion)",
            key="search-rerank",
            help="Search again with the query joined by its three best matches.",
        )
        kind = st.selectbox("Index", INDEX_KINDS, key="search-index")
    pool = None if pooling == "(any)" else pooling
    try:
        current = col.vectors_set(model=model, pooling=pool, precision=precision) if sets else None
    except LookalikeError:
        current = None
    if current is None:
        st.info(f"{col.root} has no {model} vectors{f' with {pool} pooling' if pool else ''} yet.")
        if st.button("Index now", type="primary"):
            try:
                index_now(col, model, pool, kind, precision)
            except LookalikeError as exc:
                st.error(str(exc))
                return
            st.rerun()
        return
    config = col.info().vector_sets
    current_kind = next((s.index_kind for s in config if s.key == current.key), "auto")
    if kind != "auto" and current_kind != kind and st.sidebar.button(f"Use a {kind} index"):
        index_now(col, model, pool, kind, precision)
        st.rerun()

    upload_tab, pick_tab = st.tabs(["Upload a query", "Pick from the collection"])
    with upload_tab:
        up = st.file_uploader("Query image", key="search-upload")
        if up is not None and st.session_state.get("_uploaded") != up.file_id:
            try:
                st.session_state["query"] = str(save_upload(up.getvalue(), up.name))
                st.session_state["_uploaded"] = up.file_id
            except LookalikeError as exc:
                st.error(str(exc))
    with pick_tab:
        needle = st.text_input("Filter by name", key="search-filter")
        files = sorted(str(Path(p)) for p in col.vectors(key=current.key).paths)
        shown = [p for p in files if needle.lower() in p.lower()][:500]
        choice = st.selectbox(
            "Image",
            shown,
            index=None,
            key="search-pick",
            placeholder=f"{len(shown):,} of {len(files):,} images",
        )
        if choice:
            st.image(thumb(col.root / choice), width=160)
            if st.button("Search with this image", key="search-pick-go"):
                st.session_state["query"] = str(col.root / choice)

    query = st.session_state.get("query")
    if not query:
        st.caption("Upload an image or pick one to search.")
        return
    q1, q2 = st.columns([1, 4])
    q1.image(thumb(query), caption="query", width="stretch")
    try:
        result = col.search(
            query, k=k, metric=metric, model=model, pooling=pool, rerank=rerank, precision=precision
        )
    except LookalikeError as exc:
        st.error(str(exc))
        return
    with q2:
        show_results(result, col.root)
