"""Pictures and pages of groups: a contact sheet per group, one HTML page for all."""

from __future__ import annotations

import html
from pathlib import Path

from lookalike.grouping.reports import ClusterReport, DuplicateReport, Group
from lookalike.render.grid import Tile, render_tiles, save_image
from lookalike.render.html import CSS, data_uri
from lookalike.store.atomic import write_bytes_atomic


def group_tiles(group: Group) -> list[Tile]:
    """Tiles of a group: the kept image first (framed), each with size and similarity."""
    sims = group.similarity_to_keep()
    tiles = []
    for m in group.members:
        dims = f"{m.width}x{m.height}" if m.width else "?"
        line1 = "keep" if m.keep else (f"cos {sims[m.id]:.3f}" if m.id in sims else group.tier)
        tiles.append(
            Tile(m.path, line1, f"{dims} · {m.size / 1024:,.0f} KiB · {m.path.name}", m.keep)
        )
    return tiles


def save_group_grids(report: DuplicateReport, folder: Path) -> list[Path]:
    """One PNG per group: ``folder/<tier>-<id>.png``."""
    out = []
    for g in report.groups:
        title = f"group {g.id} · {g.tier} · {len(g.members)} images"
        out.append(
            save_image(
                render_tiles(title, group_tiles(g), thumb=180),
                Path(folder) / f"{g.tier}-{g.id:04d}.png",
            )
        )
    return out


#: Pictures a look-alike group shows on the page (the rest are listed in ``--json`` and
#: ``--csv``): a loose threshold over a library of look-alikes makes groups of hundreds.
SIMILAR_SHOWN = 24
#: Side of the page's pictures: the cards' own size (a page of a large library holds
#: thousands of pictures).
THUMB = 220


def save_groups_html(report: DuplicateReport, out: Path) -> Path:
    """All groups on one self-contained page: every near-duplicate with its picture (each
    may be moved or linked), an exact group's picture once with its files listed (they
    are byte-identical), and a look-alike group's first :data:`SIMILAR_SHOWN` pictures."""
    parts = [
        f"<h1>Duplicates in {html.escape(str(report.root))}</h1>",
        f"<div class='meta'>{report.images:,} images · {html.escape(report.encoder)} · near "
        f"&ge; {report.thresholds.near:.2f}, look-alike &ge; {report.thresholds.similar:.2f} · "
        f"{html.escape(report.keep_rule)}</div>",
    ]
    for g in report.groups:
        shown = {"exact": 1, "similar": SIMILAR_SHOWN}.get(g.tier, len(g.members))
        cards = []
        for t, m in list(zip(group_tiles(g), g.members, strict=True))[:shown]:
            cls = "card query" if t.highlight else "card"
            evidence = "" if m.keep else g.evidence(m.id)
            why = f"<div class='why'>{html.escape(evidence)}</div>" if evidence else ""
            picture = data_uri(t.path, THUMB)
            cards.append(
                f'<div class="{cls}"><img src="{picture}" alt=""><div class="score">'
                f"{html.escape(t.line1)}</div><div class='path'>{html.escape(str(t.path))}"
                f"<br>{html.escape(t.line2)}</div>{why}</div>"
            )
        rest = g.members[shown:]
        if g.tier == "exact" and rest:
            listed = "".join(f"<br>{html.escape(str(m.path))}" for m in rest)
            cards.append(f"<div class='card'><div class='path'>the same bytes:{listed}</div></div>")
        elif rest:
            cards.append(
                f"<div class='card'><div class='score'>{len(rest):,} more</div>"
                "<div class='path'>listed by --json and --csv</div></div>"
            )
        kept = f"<div class='why'>kept: {html.escape(g.keep_reason)}</div>" if g.keep_reason else ""
        parts.append(
            f"<h2>group {g.id} · {g.tier} · {len(g.members)} images</h2>{kept}"
            f"<div class='grid'>{''.join(cards)}</div>"
        )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>lookalike groups</title>"
        f"<style>{CSS}.why{{color:#555;font-size:11px;margin-top:3px}}</style></head>"
        f"<body>{''.join(parts)}</body></html>"
    )
    return write_bytes_atomic(Path(out), page.encode("utf-8"))


def save_cluster_grids(report: ClusterReport, folder: Path, per_cluster: int = 15) -> list[Path]:
    """One PNG per cluster: the medoid framed, then up to ``per_cluster`` members."""
    out = []
    for c in report.clusters:
        others = [p for p in c.members if p != c.medoid][: per_cluster - 1]
        tiles = [Tile(c.medoid, "medoid", c.medoid.name, True)]
        tiles += [Tile(p, "", p.name) for p in others]
        name = "outliers" if c.label == -1 else f"cluster {c.label}"
        out.append(
            save_image(
                render_tiles(f"{name} · {len(c.members)} images", tiles, thumb=150),
                Path(folder) / f"cluster-{c.label if c.label >= 0 else 'outliers'}.png",
            )
        )
    return out
