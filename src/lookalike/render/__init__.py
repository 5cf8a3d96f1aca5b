"""Pictures of results: a PNG grid and a self-contained HTML page."""

from lookalike.render.grid import render_grid, save_grid
from lookalike.render.html import save_html

__all__ = ["render_grid", "save_grid", "save_html"]
