"""A PNG contact sheet: the query beside its ranked results, each with its score."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from lookalike.imageio.decode import load_thumbnail
from lookalike.results import SearchResult
from lookalike.store.atomic import write_bytes_atomic

_BG = (255, 255, 255)
_INK = (30, 30, 30)
_MUTED = (110, 110, 110)
_ACCENT = (200, 60, 40)


def load_font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow built without FreeType
        return ImageFont.load_default()


def _fit(text: str, draw: ImageDraw.ImageDraw, font: object, width: int) -> str:
    if draw.textlength(text, font=font) <= width:  # type: ignore[arg-type]
        return text
    while text and draw.textlength("…" + text, font=font) > width:  # type: ignore[arg-type]
        text = text[1:]
    return "…" + text


def render_grid(
    query: str | Path | None,
    result: SearchResult,
    *,
    thumb: int = 200,
    columns: int | None = None,
    labels: Sequence[str] | None = None,
) -> Image.Image:
    """Draw the query (when it is a file) and the results in a grid with rank and score."""
    tiles: list[tuple[Path | None, str, str, bool]] = []
    if query is not None and Path(query).is_file():
        tiles.append((Path(query), "query", Path(query).name, True))
    for i, m in enumerate(result.matches):
        name = labels[i] if labels else m.path.name
        tiles.append((m.path, f"#{m.rank}  {m.score:.3f}", name, False))
    if not tiles:
        tiles.append((None, "no results", "", False))
    cols = columns or min(len(tiles), 5)
    rows = math.ceil(len(tiles) / cols)
    pad, text_h, head = 10, 38, 34
    width = cols * (thumb + pad) + pad
    height = head + rows * (thumb + text_h + pad) + pad
    sheet = Image.new("RGB", (width, height), _BG)
    draw = ImageDraw.Draw(sheet)
    big, small = load_font(15), load_font(12)
    pooling = f" ({result.pooling})" if result.pooling else ""
    title = f"{result.encoder}{pooling} · {result.metric} · top {len(result.matches)}"
    draw.text((pad, 9), _fit(title, draw, big, width - 2 * pad), fill=_INK, font=big)
    for i, (path, line1, line2, is_query) in enumerate(tiles):
        x = pad + (i % cols) * (thumb + pad)
        y = head + (i // cols) * (thumb + text_h + pad)
        if path is not None:
            img = load_thumbnail(path, thumb)
            sheet.paste(img, (x + (thumb - img.width) // 2, y + (thumb - img.height) // 2))
        if is_query:
            draw.rectangle((x - 3, y - 3, x + thumb + 2, y + thumb + 2), outline=_ACCENT, width=3)
        draw.text((x, y + thumb + 4), line1, fill=_ACCENT if is_query else _INK, font=big)
        draw.text((x, y + thumb + 22), _fit(line2, draw, small, thumb), fill=_MUTED, font=small)
    return sheet


def save_grid(
    query: str | Path | None, result: SearchResult, out: str | Path, **kw: object
) -> Path:
    """Render the grid and write it to ``out`` (PNG or JPEG by extension), atomically."""
    out = Path(out)
    img = render_grid(query, result, **kw)  # type: ignore[arg-type]
    buf = io.BytesIO()
    fmt = "JPEG" if out.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    img.save(buf, fmt)
    return write_bytes_atomic(out, buf.getvalue())
