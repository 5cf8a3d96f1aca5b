"""The Streamlit app: ``lookalike ui DIR ...`` runs this file."""

from __future__ import annotations

import streamlit as st

from lookalike.ui import compare_page, groups_page, search_page, train_page

st.set_page_config(page_title="lookalike", page_icon="🔎", layout="wide")
page = st.navigation(
    [
        st.Page(search_page.render, title="Search", url_path="search", default=True),
        st.Page(groups_page.render, title="Groups", url_path="groups"),
        st.Page(train_page.render, title="Train", url_path="train"),
        st.Page(compare_page.render, title="Compare", url_path="compare"),
    ]
)
page.run()
