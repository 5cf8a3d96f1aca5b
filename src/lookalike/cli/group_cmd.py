"""``lookalike group``, ``undo``, ``not-duplicates`` and ``evaluate-groups``."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lookalike.cli.console import index_progress, out
from lookalike.collection import Collection
from lookalike.grouping import (
    TIERS,
    DuplicateReport,
    apply,
    find_clusters,
    find_duplicates,
    find_in_reference,
    make_near_duplicate_set,
    pair_scores,
    plan,
    undo,
)
from lookalike.grouping.clusters import ClusterReport

TIER_TITLES = {"exact": "Exact copies", "near": "Near-duplicates", "similar": "Look-alikes"}


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def duplicates_json(report: DuplicateReport) -> dict[str, object]:
    """The report as plain data."""
    return {
        "root": str(report.root),
        "vector_set": report.vector_set,
        "thresholds": {"near": report.thresholds.near, "similar": report.thresholds.similar},
        "keep_rule": report.keep_rule,
        "images": report.images,
        "groups": [
            {
                "id": g.id,
                "tier": g.tier,
                "keep": str(g.keep.path),
                "members": [
                    {
                        "path": str(m.path),
                        "keep": m.keep,
                        "width": m.width,
                        "height": m.height,
                        "bytes": m.size,
                        "format": m.format,
                    }
                    for m in g.members
                ],
                "similarities": [
                    {
                        "a": next(str(m.path) for m in g.members if m.id == a),
                        "b": next(str(m.path) for m in g.members if m.id == b),
                        "cosine": s,
                    }
                    for a, b, s in g.similarities
                ],
            }
            for g in report.groups
        ],
    }


def print_duplicates(report: DuplicateReport, limit: int) -> None:
    """Groups by tier: the kept image first, the others with their similarity to it."""
    t = report.thresholds
    out.print(
        f"[bold]{report.images:,} images[/] · {report.encoder} · near-duplicate cosine ≥ "
        f"{t.near:.2f}, look-alike ≥ {t.similar:.2f}",
        highlight=False,
    )
    out.print(f"[dim]{report.keep_rule}[/]", highlight=False)
    for tier in TIERS:
        groups = report.tier(tier)
        members = sum(len(g.members) for g in groups)
        out.print(
            f"\n[bold]{TIER_TITLES[tier]}[/]: {len(groups):,} groups, {members:,} images",
            highlight=False,
        )
        for g in groups[:limit]:
            keep = g.keep
            sims = {b if a == keep.id else a: s for a, b, s in g.similarities if keep.id in (a, b)}
            out.print(
                f"  group {g.id}: [green]keep[/] {_rel(keep.path, report.root)} "
                f"({keep.width}x{keep.height}, {keep.size / 1024:,.0f} KiB)",
                highlight=False,
            )
            for m in g.members:
                if not m.keep:
                    sim = f" cos {sims[m.id]:.3f}" if m.id in sims else ""
                    out.print(f"           {_rel(m.path, report.root)}{sim}", highlight=False)
        if len(groups) > limit:
            out.print(f"  … {len(groups) - limit:,} more (--limit, --json)", highlight=False)


def print_clusters(report: ClusterReport, limit: int) -> None:
    """Cluster sizes and medoids."""
    sil = f", silhouette {report.silhouette:.3f}" if report.silhouette is not None else ""
    out.print(
        f"[bold]{len(report.clusters)} clusters[/] ({report.criterion}{sil})", highlight=False
    )
    table = Table()
    for name in ("cluster", "images", "medoid"):
        table.add_column(name, justify="right" if name != "medoid" else "left")
    for c in report.clusters[:limit]:
        table.add_row(
            "outliers" if c.label == -1 else str(c.label),
            f"{len(c.members):,}",
            _rel(c.medoid, report.root),
        )
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add the commands to the app."""

    @app.command("group")
    def group(
        folder: Annotated[Path, typer.Argument(help="An indexed folder.")] = Path("."),
        mode: Annotated[str, typer.Option(help="duplicates (tiers) or clusters.")] = "duplicates",
        threshold: Annotated[
            float | None, typer.Option(help="Near-duplicate cosine similarity (0..1).")
        ] = None,
        similar_threshold: Annotated[
            float | None, typer.Option(help="Look-alike cosine similarity (0..1).")
        ] = None,
        k: Annotated[int | None, typer.Option("--k", help="Clusters: k for k-means.")] = None,
        algo: Annotated[str, typer.Option(help="Clusters: kmeans or hdbscan.")] = "kmeans",
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
        limit: Annotated[int, typer.Option(help="Groups shown per tier.")] = 20,
        db: Annotated[Path | None, typer.Option(help="Database folder.")] = None,
    ) -> None:
        """Group similar images: exact copies, near-duplicates, look-alikes, or clusters."""
        with Collection.open(folder, db=db) as col:
            if against is not None:
                with Collection.open(against) as ref:
                    found = find_in_reference(col, ref, threshold=threshold)
                if as_json:
                    print(
                        json.dumps(
                            {
                                str(k): [{"path": str(p), "cosine": round(s, 4)} for p, s in v]
                                for k, v in found.items()
                            },
                            indent=2,
                        )
                    )
                    return
                out.print(
                    f"{len(found):,} images of {col.root} have duplicates in {against}",
                    highlight=False,
                )
                for new, hits in found.items():
                    out.print(f"  {_rel(new, col.root)}", highlight=False)
                    for p, s in hits:
                        out.print(f"      {p}  cos {s:.3f}", highlight=False)
                return
            if mode == "clusters":
                creport = find_clusters(col, k=k, algo=algo, model=model, pooling=pooling)
                if as_json:
                    print(
                        json.dumps(
                            {
                                "k": creport.k,
                                "criterion": creport.criterion,
                                "silhouette": creport.silhouette,
                                "clusters": [
                                    {
                                        "label": c.label,
                                        "medoid": str(c.medoid),
                                        "members": [str(p) for p in c.members],
                                    }
                                    for c in creport.clusters
                                ],
                            },
                            indent=2,
                        )
                    )
                else:
                    print_clusters(creport, limit)
                if grid:
                    from lookalike.render.groups import save_cluster_grids

                    paths = save_cluster_grids(creport, grid)
                    out.print(f"{len(paths)} cluster pictures in {grid}", highlight=False)
                return
            if mode != "duplicates":
                raise typer.BadParameter("use duplicates or clusters", param_hint="--mode")
            with index_progress(enabled=not as_json) as tick:
                report = find_duplicates(
                    col,
                    threshold=threshold,
                    similar_threshold=similar_threshold,
                    model=model,
                    pooling=pooling,
                    progress=tick,
                )
            if as_json:
                print(json.dumps(duplicates_json(report), indent=2))
            else:
                print_duplicates(report, limit)
            if csv_out:
                with open(csv_out, "w", newline="", encoding="utf-8") as fh:
                    w = csv.writer(fh)
                    w.writerow(["group", "tier", "path", "keep", "width", "height", "bytes"])
                    for g in report.groups:
                        for m in g.members:
                            w.writerow([g.id, g.tier, m.path, m.keep, m.width, m.height, m.size])
                out.print(f"csv: {csv_out}", highlight=False)
            if html_out:
                from lookalike.render.groups import save_groups_html

                out.print(f"html: {save_groups_html(report, html_out)}", highlight=False)
            if grid:
                from lookalike.render.groups import save_group_grids

                out.print(
                    f"{len(save_group_grids(report, grid))} group pictures in {grid}",
                    highlight=False,
                )
            if move_to or link_to:
                actions = plan(
                    report,
                    move_to=move_to,
                    link_to=link_to,
                    tiers=tuple(t.strip() for t in tiers.split(",")),
                )
                verb = "move" if move_to else "link"
                if not do_apply:
                    for a in actions:
                        out.print(f"would {verb} {a.src} -> {a.dst}", highlight=False)
                    out.print(
                        f"dry run: {len(actions)} files; add --apply to {verb} them",
                        highlight=False,
                    )
                else:
                    journal = apply(actions, col.db)
                    out.print(
                        f"{verb}d {len(actions)} files; journal {journal}; "
                        f"undo with: lookalike undo {col.root}",
                        highlight=False,
                    )

    @app.command("undo")
    def undo_cmd(
        folder: Annotated[Path, typer.Argument(help="The collection.")] = Path("."),
        db: Annotated[Path | None, typer.Option(help="Database folder.")] = None,
    ) -> None:
        """Undo the latest --apply of group: move files back, remove links."""
        col = Collection.open(folder, db=db)
        journal, undone = undo(col.db)
        if journal is None:
            out.print("nothing to undo", highlight=False)
            return
        out.print(f"undid {len(undone)} actions of {journal.name}", highlight=False)

    @app.command("not-duplicates")
    def not_duplicates(
        folder: Annotated[Path, typer.Argument(help="The collection.")],
        paths: Annotated[list[Path], typer.Argument(help="Two or more images of it.")],
        db: Annotated[Path | None, typer.Option(help="Database folder.")] = None,
    ) -> None:
        """Remember that these images are not duplicates; grouping will keep them apart."""
        if len(paths) < 2:
            raise typer.BadParameter("name at least two images", param_hint="PATHS")
        with Collection.open(folder, db=db) as col:
            n = col.mark_not_duplicates(list(paths))
        out.print(f"recorded {n} pairs as not duplicates", highlight=False)

    @app.command("evaluate-groups")
    def evaluate_groups(
        out_dir: Annotated[Path, typer.Option("--out", help="Where to make the set.")] = Path(
            "demo/near-duplicates"
        ),
        model: Annotated[str, typer.Option("--model", "-m")] = "efficientnet-lite0",
        pooling: Annotated[
            str | None, typer.Option(help="Embedding method (the encoder's default if unset).")
        ] = None,
        thresholds: Annotated[
            str, typer.Option(help="Comma-separated near thresholds to sweep.")
        ] = "0.5,0.55,0.6,0.65,0.7,0.75,0.8,0.85,0.9,0.95",
    ) -> None:
        """Make a near-duplicate set from the sample photos and score grouping on it."""
        truth = make_near_duplicate_set(out_dir)
        with Collection.open(out_dir) as col:
            with index_progress() as tick:
                report = col.index(model=model, pooling=pooling, progress=tick)
            pooling = report.pooling
            graph = col.knn(10, model=model, pooling=pooling)
            table = Table(
                title=f"pairwise scores on {out_dir} ({model}, {pooling or '-'})",
                title_justify="left",
            )
            for name in ("threshold", "tier", "precision", "recall", "F1", "pairs"):
                table.add_column(name, justify="right")
            for t in (float(x) for x in thresholds.split(",")):
                found = find_duplicates(
                    col, threshold=t, similar_threshold=t, model=model, pooling=pooling, graph=graph
                )
                exact = [[_rel(m.path, col.root) for m in g.members] for g in found.tier("exact")]
                copies = {p: grp for grp in exact for p in grp}
                near = []
                for g in found.tier("near"):
                    members = {_rel(m.path, col.root) for m in g.members}
                    for p in list(members):
                        members |= set(copies.get(p, []))
                    near.append(sorted(members))
                for tier, predicted, expected in (
                    ("exact", exact, truth.exact),
                    ("near", near + exact, truth.near),
                ):
                    s = pair_scores(predicted, expected)
                    table.add_row(
                        f"{t:.2f}",
                        tier,
                        f"{s.precision:.3f}",
                        f"{s.recall:.3f}",
                        f"{s.f1:.3f}",
                        f"{s.predicted_pairs}/{s.true_pairs}",
                    )
        out.print(table)
        n_near = sum(len(g) for g in truth.near)
        out.print(
            f"set: {len(truth.near)} photos with altered copies ({n_near} images), "
            f"{len(truth.singles)} single photos, {len(truth.exact)} byte-identical copies",
            highlight=False,
        )
        sys.stdout.flush()
