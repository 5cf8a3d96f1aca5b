"""A self-contained HTML page of a search: thumbnails inlined, no server needed."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from lookalike.imageio.decode import load_thumbnail
from lookalike.results import SearchResult
from lookalike.store.atomic import write_bytes_atomic

#: The style every lookalike page shares.
CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:18px;font-weight:600}.meta{color:#666;font-size:13px;margin-bottom:16px}
.grid{display:flex;flex-wrap:wrap;gap:14px}.card{width:220px}
.card img{width:220px;height:220px;object-fit:contain;background:#f4f4f4;border-radius:6px}
.card.query img{outline:3px solid #c83c28}.score{font-weight:600;margin-top:4px}
.path{color:#666;font-size:12px;word-break:break-all}
"""


def data_uri(path: Path, size: int = 320) -> str:
    """A JPEG thumbnail of ``path`` inlined as a data URI (pages need no image files)."""
    buf = io.BytesIO()
    load_thumbnail(path, size).save(buf, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def render_html(query: str | Path | None, result: SearchResult) -> str:
    """The page as a string."""
    cards = []
    if query is not None and Path(query).is_file():
        q = Path(query)
        cards.append(
            f'<div class="card query"><img src="{data_uri(q)}" alt="query">'
            f'<div class="score">query</div><div class="path">{html.escape(str(q))}</div></div>'
        )
    for m in result.matches:
        cards.append(
            f'<div class="card"><a href="{html.escape(m.path.as_uri())}">'
            f'<img src="{data_uri(m.path)}" alt="result {m.rank}"></a>'
            f'<div class="score">#{m.rank} · {m.score:.4f}</div>'
            f'<div class="path">{html.escape(str(m.path))}</div></div>'
        )
    pooling = f" ({result.pooling})" if result.pooling else ""
    better = "higher is closer" if result.metric == "cosine" else "lower is closer"
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>lookalike: {html.escape(result.query)}</title><style>{CSS}</style></head><body>"
        f"<h1>Images like {html.escape(Path(result.query).name)}</h1>"
        f"<div class='meta'>{html.escape(result.encoder + pooling)} · {result.metric} "
        f"({better}) · {len(result.matches)} of {result.searched:,} images</div>"
        f"<div class='grid'>{''.join(cards)}</div></body></html>"
    )


def save_html(query: str | Path | None, result: SearchResult, out: str | Path) -> Path:
    """Write the page to ``out``, atomically."""
    return write_bytes_atomic(Path(out), render_html(query, result).encode("utf-8"))
