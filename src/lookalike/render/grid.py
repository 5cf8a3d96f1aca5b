"""A PNG contact sheet: the query beside its ranked results, each with its score."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from lookalike.imageio.decode import load_thumbnail
from lookalike.imageio.fonts import load_font
from lookalike.results import SearchResult
from lookalike.store.atomic import write_bytes_atomic

_BG = (255, 255, 255)
_INK = (30, 30, 30)
_MUTED = (110, 110, 110)
_ACCENT = (200, 60, 40)
_GOOD = (30, 130, 60)
_FRAME = (40, 90, 200)  # the query
#: Pictures smaller than the tile are enlarged to fill it (an icon or a 28-pixel digit is
#: unreadable at its own size); by whole pixels when enlarged twice or more, so they stay
#: crisp.
_PIXEL_ART = 2.0


def _fit(text: str, draw: ImageDraw.ImageDraw, font: object, width: int) -> str:
    if draw.textlength(text, font=font) <= width:  # type: ignore[arg-type]
        return text
    while text and draw.textlength("…" + text, font=font) > width:  # type: ignore[arg-type]
        text = text[1:]
    return "…" + text


@dataclass(frozen=True)
class Tile:
    """One picture of a contact sheet with two lines of caption."""

    path: Path | None
    line1: str
    line2: str = ""
    highlight: bool = False
    tone: str = ""  # "good" or "bad" colours the first line (a right or wrong result)


def fit_picture(img: Image.Image, box: int) -> Image.Image:
    """Scale a thumbnail so its longer side is ``box``, enlarging small pictures too."""
    scale = box / max(img.width, img.height)
    if scale <= 1:
        return img
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    how = Image.Resampling.NEAREST if scale >= _PIXEL_ART else Image.Resampling.LANCZOS
    return img.resize(size, how)


def render_tiles(
    title: str, tiles: Sequence[Tile], *, thumb: int = 200, columns: int | None = None
) -> Image.Image:
    """A contact sheet: a title, then the tiles in rows, highlighted ones framed."""
    tiles = list(tiles) or [Tile(None, "nothing to show")]
    cols = columns or min(len(tiles), 5)
    rows = math.ceil(len(tiles) / cols)
    pad, text_h, head = 10, 38, 34
    width = cols * (thumb + pad) + pad
    height = head + rows * (thumb + text_h + pad) + pad
    sheet = Image.new("RGB", (width, height), _BG)
    draw = ImageDraw.Draw(sheet)
    big, small = load_font(15), load_font(12)
    draw.text((pad, 9), _fit(title, draw, big, width - 2 * pad), fill=_INK, font=big)
    for i, tile in enumerate(tiles):
        x = pad + (i % cols) * (thumb + pad)
        y = head + (i // cols) * (thumb + text_h + pad)
        if tile.path is not None:
            img = fit_picture(load_thumbnail(tile.path, thumb), thumb)
            sheet.paste(img, (x + (thumb - img.width) // 2, y + (thumb - img.height) // 2))
        if tile.highlight:
            draw.rectangle((x - 3, y - 3, x + thumb + 2, y + thumb + 2), outline=_FRAME, width=3)
        ink = {"good": _GOOD, "bad": _ACCENT}.get(tile.tone, _FRAME if tile.highlight else _INK)
        draw.text((x, y + thumb + 4), _fit(tile.line1, draw, big, thumb), fill=ink, font=big)
        draw.text(
            (x, y + thumb + 22), _fit(tile.line2, draw, small, thumb), fill=_MUTED, font=small
        )
    return sheet


def render_grid(
    query: str | Path | None,
    result: SearchResult,
    *,
    thumb: int = 200,
    columns: int | None = None,
) -> Image.Image:
    """Draw the query (when it is a file) and the results in a grid with rank and score."""
    tiles: list[Tile] = []
    if query is not None and Path(query).is_file():
        tiles.append(Tile(Path(query), "query", Path(query).name, True))
    tiles += [Tile(m.path, f"#{m.rank}  {m.score:.3f}", m.path.name) for m in result.matches]
    pooling = f" ({result.pooling})" if result.pooling else ""
    title = f"{result.encoder}{pooling} · {result.metric} · top {len(result.matches)}"
    return render_tiles(title, tiles, thumb=thumb, columns=columns)


def save_image(img: Image.Image, out: str | Path) -> Path:
    """Write a picture (PNG, or JPEG by extension) atomically."""
    out = Path(out)
    buf = io.BytesIO()
    img.save(buf, "JPEG" if out.suffix.lower() in (".jpg", ".jpeg") else "PNG")
    return write_bytes_atomic(out, buf.getvalue())


def save_grid(
    query: str | Path | None, result: SearchResult, out: str | Path, **kw: object
) -> Path:
    """Render the grid and write it to ``out`` (PNG or JPEG by extension), atomically."""
    return save_image(render_grid(query, result, **kw), out)  # type: ignore[arg-type]
