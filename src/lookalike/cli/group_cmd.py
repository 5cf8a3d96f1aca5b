"""``lookalike group``: duplicate tiers, clusters, or a folder against a reference."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from lookalike.cli.console import QUIET_HELP, counted, index_progress, out, set_quiet
from lookalike.imageio.discover import rel_path

if TYPE_CHECKING:
    from lookalike.collection import Collection
    from lookalike.grouping import ClusterReport, DuplicateReport, ReferenceReport

TIER_TITLES = {"exact": "Exact copies", "near": "Near-duplicates", "similar": "Look-alikes"}


def print_duplicates(report: DuplicateReport, limit: int) -> None:
    """Groups by tier: the kept image first, the others with their similarity to it."""
    from lookalike.grouping import TIERS

    t = report.thresholds
    how = (
        f"near-duplicates: candidates at cosine ≥ {t.near:.2f}, each pair verified on the pixels"
        if report.verified
        else f"near-duplicate cosine ≥ {t.near:.2f}"
    )
    if report.reused:
        how += (
            f" ({report.measured:,} pairs measured, {report.reused:,} judged on measures "
            "kept from earlier runs)"
        )
    out.print(
        f"[bold]{counted(report.images, 'image')}[/] · {report.encoder} · {how}, "
        f"look-alike ≥ {t.similar:.2f}",
        highlight=False,
    )
    out.print(f"[dim]{report.keep_rule}[/]", highlight=False)
    for tier in TIERS:
        groups = report.tier(tier)
        members = sum(len(g.members) for g in groups)
        out.print(
            f"\n[bold]{TIER_TITLES[tier]}[/]: {counted(len(groups), 'group')}, "
            f"{counted(members, 'image')}",
            highlight=False,
        )
        for g in groups[:limit]:
            keep, sims = g.keep, g.similarity_to_keep()
            out.print(
                f"  group {g.id}: [green]keep[/] {rel_path(keep.path, report.root)} "
                f"({keep.width}x{keep.height}, {keep.size / 1024:,.0f} KiB"
                + (f"; {g.keep_reason})" if g.keep_reason else ")"),
                highlight=False,
            )
            for m in g.members:
                if not m.keep:
                    sim = f" cos {sims[m.id]:.3f}" if m.id in sims else ""
                    out.print(f"           {rel_path(m.path, report.root)}{sim}", highlight=False)
                    verdict = g.verdict_with_keep(m.id)
                    if verdict is not None and (tier == "similar" or not verdict.same):
                        out.print(f"             [dim]{g.evidence(m.id)}[/]", highlight=False)
        if len(groups) > limit:
            out.print(f"  … {len(groups) - limit:,} more (--limit, --json)", highlight=False)
    for s in report.unreadable:
        out.print(f"[yellow]not verified[/] {s.path}: {s.reason}", highlight=False)
    if report.unkept:
        out.print(f"[yellow]pixel measures not kept for later runs:[/] {report.unkept}",
                  highlight=False)  # fmt: skip


def print_clusters(report: ClusterReport, limit: int) -> None:
    """Cluster sizes and medoids, the rule that made them, and other k to try."""
    sil = f", silhouette {report.silhouette:.3f}" if report.silhouette is not None else ""
    outliers = sum(len(c.members) for c in report.clusters if c.label == -1)
    extra = f" and {outliers:,} outliers" if outliers else ""
    out.print(f"[bold]{report.k} clusters[/]{extra} · {report.vector_set}", highlight=False)
    out.print(f"[dim]{report.algo}: {report.criterion}{sil}[/]", highlight=False)
    if report.runners_up:
        others = ", ".join(f"k = {k} ({s:.3f})" for k, s in report.runners_up)
        out.print(f"[dim]next best by modularity: {others}; pick one with --k[/]", highlight=False)
    table = Table()
    for name in ("cluster", "images", "medoid"):
        table.add_column(name, justify="right" if name != "medoid" else "left")
    for c in report.clusters[:limit]:
        table.add_row(
            "outliers" if c.label == -1 else str(c.label),
            f"{len(c.members):,}",
            rel_path(c.medoid, report.root),
        )
    out.print(table)


def print_reference(found: ReferenceReport, root: Path, against: Path) -> None:
    """The new images that have duplicates in the reference, with their hits."""
    have = "has" if len(found) == 1 else "have"
    out.print(
        f"{counted(len(found), 'image')} of {root} {have} duplicates in {against}", highlight=False
    )
    for new, hits in found.items():
        out.print(f"  {rel_path(new, root)}", highlight=False)
        for p, s in hits:
            out.print(f"      {p}  cos {s:.3f}", highlight=False)


def write_outputs(
    report: DuplicateReport, csv_out: Path | None, html_out: Path | None, grid: Path | None
) -> None:
    """The files a user asked for: CSV, one HTML page, one picture per group."""
    if csv_out:
        with open(csv_out, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(report.csv_rows())
        out.print(f"csv: {csv_out}", highlight=False)
    if html_out:
        from lookalike.render.groups import save_groups_html

        out.print(f"html: {save_groups_html(report, html_out)}", highlight=False)
    if grid:
        from lookalike.render.groups import save_group_grids

        n = len(save_group_grids(report, grid))
        out.print(f"{n} group pictures in {grid}", highlight=False)


def act(
    col: Collection,
    report: DuplicateReport,
    move_to: Path | None,
    link_to: Path | None,
    tiers: str,
    do_apply: bool,
) -> None:
    """Plan moves or links of the images not kept; carry them out with ``--apply``."""
    from lookalike.grouping import apply, plan

    actions = plan(
        report, move_to=move_to, link_to=link_to, tiers=tuple(t.strip() for t in tiers.split(","))
    )  # each action records the keep policy, in the journal too
    verb = "move" if move_to else "link"
    if not do_apply:
        for a in actions:
            out.print(f"would {verb} {a.src} -> {a.dst}", highlight=False)
        out.print(f"dry run: {len(actions)} files; add --apply to {verb} them", highlight=False)
        return
    journal = apply(actions, col.db)
    out.print(
        f"{verb}d {len(actions)} files; journal {journal}; undo with: lookalike undo {col.root}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command("group")
    def group(
        folder: Annotated[str, typer.Argument(help="An indexed folder (or URL, with --db).")] = ".",
        mode: Annotated[str, typer.Option(help="duplicates (tiers) or clusters.")] = "duplicates",
        threshold: Annotated[
            float | None, typer.Option(help="Near-duplicate cosine similarity (0..1).")
        ] = None,
        similar_threshold: Annotated[
            float | None, typer.Option(help="Look-alike cosine similarity (0..1).")
        ] = None,
        k: Annotated[int | None, typer.Option("--k", help="Clusters: k for k-means.")] = None,
        algo: Annotated[
            str,
            typer.Option(
                help="Clusters: auto (kmeans when --k is given, else graph), kmeans, graph, "
                "hdbscan."
            ),
        ] = "auto",
        min_cluster_size: Annotated[
            int | None, typer.Option(help="Clusters, hdbscan: smallest cluster (default 0.5%).")
        ] = None,
        seed: Annotated[int, typer.Option(help="Clusters: random seed.")] = 0,
        against: Annotated[
            Path | None, typer.Option(help="Look up FOLDER's images in this reference.")
        ] = None,
        model: Annotated[str | None, typer.Option("--model", "-m")] = None,
        pooling: Annotated[str | None, typer.Option()] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
        csv_out: Annotated[Path | None, typer.Option("--csv", help="Write a CSV.")] = None,
        html_out: Annotated[Path | None, typer.Option("--html", help="Write an HTML page.")] = None,
        grid: Annotated[Path | None, typer.Option(help="Write one PNG per group here.")] = None,
        move_to: Annotated[
            Path | None, typer.Option(help="Move the images not kept here (dry run).")
        ] = None,
        link_to: Annotated[
            Path | None, typer.Option(help="Link the images not kept here (dry run).")
        ] = None,
        tiers: Annotated[
            str, typer.Option(help="Tiers that --move-to/--link-to act on.")
        ] = "exact,near",
        do_apply: Annotated[
            bool, typer.Option("--apply", help="Really move or link (journalled; see undo).")
        ] = False,
        keep: Annotated[
            str,
            typer.Option(help="Which image to keep: original, largest, newest, oldest, path:GLOB."),
        ] = "original",
        verify: Annotated[
            bool,
            typer.Option(
                help="Verify near-duplicate pairs on the pixels (--no-verify: cosine only)."
            ),
        ] = True,
        remeasure: Annotated[
            bool,
            typer.Option(
                help="Measure every candidate pair on the pixels again (by default a pair "
                "measured by an earlier run of this collection is judged on its kept measures)."
            ),
        ] = False,
        workers: Annotated[
            int | None,
            typer.Option(
                min=1,
                help="Parallel workers verifying pairs (default: one per core; past 2,000 "
                "pairs to measure they are processes, else threads; 1: one thread).",
            ),
        ] = None,
        limit: Annotated[int, typer.Option(help="Groups shown per tier.")] = 20,
        db: Annotated[Path | None, typer.Option(help="Database folder.")] = None,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help=QUIET_HELP)] = False,
    ) -> None:
        """Group similar images: exact copies, near-duplicates, look-alikes, or clusters."""
        set_quiet(quiet)
        from lookalike.collection import Collection
        from lookalike.grouping import find_clusters, find_duplicates, find_in_reference

        if mode not in ("duplicates", "clusters"):
            raise typer.BadParameter("use duplicates or clusters", param_hint="--mode")
        with Collection.open(folder, db=db) as col:
            if against is not None:
                with Collection.open(against) as ref:
                    found = find_in_reference(col, ref, threshold=threshold)
                if as_json:
                    print(json.dumps(found.to_dict(), indent=2))
                else:
                    print_reference(found, col.root, against)
                return
            if mode == "clusters":
                with index_progress(enabled=not as_json) as tick:
                    creport = find_clusters(
                        col,
                        k=k,
                        algo=algo,
                        min_cluster_size=min_cluster_size,
                        model=model,
                        pooling=pooling,
                        seed=seed,
                        progress=tick,
                    )
                if as_json:
                    print(json.dumps(creport.to_dict(), indent=2))
                else:
                    print_clusters(creport, limit)
                if grid:
                    from lookalike.render.groups import save_cluster_grids

                    paths = save_cluster_grids(creport, grid)
                    out.print(f"{len(paths)} cluster pictures in {grid}", highlight=False)
                return
            with index_progress(enabled=not as_json) as tick:
                report = find_duplicates(
                    col,
                    threshold=threshold,
                    similar_threshold=similar_threshold,
                    model=model,
                    pooling=pooling,
                    progress=tick,
                    verify=verify,
                    keep=keep,
                    reuse=not remeasure,
                    workers=workers,
                )
            if as_json:
                print(json.dumps(report.to_dict(), indent=2))
            else:
                print_duplicates(report, limit)
            write_outputs(report, csv_out, html_out, grid)
            if move_to or link_to:
                act(col, report, move_to, link_to, tiers, do_apply)
