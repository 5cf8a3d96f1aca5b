"""The web platform (Streamlit): search, group, train and compare, over the public API."""
