"""``lookalike train DIR`` and ``lookalike models DIR``: the report's autoencoders and the
metric head that learns the collection."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from lookalike.cli.console import QUIET_HELP, err, index_progress, is_quiet, out, set_quiet
from lookalike.config import DB_DIRNAME
from lookalike.errors import InvalidOptionError

if TYPE_CHECKING:
    from lookalike.collection import Collection
    from lookalike.training.metric import MetricProgress
    from lookalike.training.trainer import TrainProgress


@contextmanager
def epoch_progress() -> Iterator[Callable[[TrainProgress | MetricProgress], None]]:
    """A Rich bar for a training: epoch, batches, loss, images per second, ETA."""

    columns = (
        TextColumn("[bold]epoch {task.fields[epoch]}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} batches"),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TextColumn("{task.fields[rate]:.1f} img/s"),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, disable=is_quiet()) as bar:
        task = bar.add_task("train", total=1, epoch="-", loss=0.0, rate=0.0)

        def tick(p: TrainProgress | MetricProgress) -> None:
            bar.update(
                task,
                completed=p.batch,
                total=p.batches,
                epoch=f"{p.epoch}/{p.epochs}",
                loss=p.loss,
                rate=p.images_per_second,
            )

        yield tick


def register(app: typer.Typer) -> None:
    """Add the commands to the app."""

    @app.command("train")
    def train(
        folder: Annotated[Path, typer.Argument(help="Folder of images to learn from.")],
        arch: Annotated[
            str,
            typer.Option(
                help="model1..model4 (the report's autoencoders) or metric (a head on a "
                "pretrained encoder, trained on the collection's labels or images)."
            ),
        ] = "model2",
        epochs: Annotated[
            int | None, typer.Option(min=1, help="Default 40 (autoencoders), 30 (metric).")
        ] = None,
        batch_size: Annotated[
            int | None, typer.Option(min=1, help="Default 32 (autoencoders), 256 (metric).")
        ] = None,
        labels: Annotated[
            str,
            typer.Option(
                help="metric: folders (sub-folder = group), none (the images alone) or a "
                "CSV/JSON file mapping some images to groups."
            ),
        ] = "folders",
        backbone: Annotated[
            str, typer.Option(help="metric: the pretrained encoder under the head.")
        ] = "efficientnet-lite0",
        lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 1e-3,
        image_size: Annotated[
            int, typer.Option(help="Square input size (112 or 96 on CPUs).")
        ] = 224,
        val_split: Annotated[float, typer.Option(help="Share held out for validation.")] = 0.1,
        seed: Annotated[int, typer.Option()] = 0,
        scheduler: Annotated[
            str, typer.Option(help="none, cosine, cosine-warm-restarts or plateau.")
        ] = "none",
        t0: Annotated[int, typer.Option(help="Warm-restart cycle in epochs (5 or 10).")] = 10,
        loss: Annotated[
            str | None,
            typer.Option(help="mse or ssim (autoencoders); supcon or triplet (metric)."),
        ] = None,
        name: Annotated[str | None, typer.Option(help="Run name (default from settings).")] = None,
        resume: Annotated[
            bool, typer.Option(help="Continue the run NAME (or the latest).")
        ] = False,
        plain: Annotated[
            bool, typer.Option(help="No channels-last / bf16 (a plain fp32 eager loop).")
        ] = False,
        db: Annotated[Path | None, typer.Option(help="Database folder.")] = None,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help=QUIET_HELP)] = False,
    ) -> None:
        """Train one of the origin report's autoencoders, or a metric head, on FOLDER."""
        set_quiet(quiet)
        from lookalike.collection import Collection
        from lookalike.training.runs import list_runs, models_dir, new_run_name
        from lookalike.training.trainer import TrainConfig, Trainer

        col = Collection.open(folder, db=db)
        if arch == "metric":
            train_metric_head(
                col,
                labels,
                backbone,
                loss or "supcon",
                epochs or 30,
                batch_size or 256,
                lr,
                seed,
                name,
            )
            return
        loss = loss or "mse"
        cfg = TrainConfig(
            arch=arch,
            epochs=epochs or 40,
            batch_size=batch_size or 32,
            lr=lr,
            image_size=image_size,
            val_split=val_split,
            seed=seed,
            scheduler=scheduler,
            t0=t0,
            loss=loss,
            fast=not plain,
        )
        try:
            cfg.check()
        except InvalidOptionError as exc:
            raise typer.BadParameter(str(exc)) from None
        if resume:
            runs = list_runs(col.db)
            chosen = name or (runs[0].name if runs else None)
            if chosen is None or not (models_dir(col.db) / chosen / "last.pt").exists():
                raise typer.BadParameter(
                    f"no run to resume in {models_dir(col.db)}", param_hint="--resume"
                )
            run_name = chosen
        else:
            base = name or f"{arch}-{image_size}px-{scheduler}-{loss}"
            run_name = new_run_name(col.db, base)
        run = models_dir(col.db) / run_name
        trainer = Trainer(col.root, run, cfg, exclude=(col.db, col.root / DB_DIRNAME))
        err.print(
            f"Training {arch} on {col.root} ({trainer.device.type}"
            f"{', bf16 autocast' if trainer.bf16 else ''}) into {run}",
            highlight=False,
        )
        with epoch_progress() as tick:
            report = trainer.fit(resume=resume, progress=tick)
        for h in report.history[-5:]:
            val = f"{h.val_loss:.5f}" if h.val_loss is not None else "-"
            out.print(
                f"epoch {h.epoch}: train {h.train_loss:.5f}, validation {val}, "
                f"lr {h.lr:.2e}, {h.seconds:.1f} s ({h.images_per_second:.1f} img/s)",
                highlight=False,
            )
        best = (
            f"best validation loss {report.best_val_loss:.5f} (epoch {report.best_epoch})"
            if report.best_val_loss is not None
            else "no epoch finished"
        )
        out.print(
            f"{report.images:,} images, {len(report.skipped)} skipped; {best}", highlight=False
        )
        out.print(
            f"run {run_name}: {run / 'best.pt'}, loss curve {run / 'loss.png'}", highlight=False
        )
        out.print(
            f"use it: lookalike index {col.root} --model {run_name} --pooling flatten",
            highlight=False,
        )

    def train_metric_head(
        col: Collection,
        labels: str,
        backbone: str,
        loss: str,
        epochs: int,
        batch_size: int,
        lr: float,
        seed: int,
        name: str | None,
    ) -> None:
        from lookalike.training.labels import read_groups
        from lookalike.training.metric import MetricConfig, train_metric
        from lookalike.training.runs import models_dir, new_run_name

        groups = None
        if labels not in ("folders", "none"):
            groups = read_groups(Path(labels))
            labels = str(Path(labels).resolve())
        cfg = MetricConfig(
            backbone=backbone,
            labels=labels,
            loss=loss,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
        )
        try:
            cfg.check()
        except InvalidOptionError as exc:
            raise typer.BadParameter(str(exc)) from None
        kind = "whitening" if labels == "none" else f"{loss}-{Path(labels).stem}"
        run_name = new_run_name(col.db, name or f"metric-{backbone}-{kind}")
        run = models_dir(col.db) / run_name
        err.print(f"Training a metric head on {col.root} into {run}", highlight=False)
        with index_progress() as tick, epoch_progress() as step:
            report = train_metric(col, run, cfg, groups=groups, index_progress=tick, progress=step)
        what = (
            f"{report.labelled:,} labelled in {report.classes:,} groups, {loss} loss, "
            f"{len(report.history)} epochs"
            if report.history
            else "no labels: whitening learned from the images"
        )
        out.print(
            f"{report.images:,} images ({what}); {report.dim}-d vectors; head trained in "
            f"{report.seconds - report.backbone_seconds:.1f} s (backbone vectors "
            f"{report.backbone_seconds:.1f} s)",
            highlight=False,
        )
        if report.history:
            last = report.history[-1]
            val = f"{last.val_loss:.4f}" if last.val_loss is not None else "-"
            out.print(
                f"last epoch: train loss {last.train_loss:.4f}, validation {val}; "
                f"loss curve {run / 'loss.png'}",
                highlight=False,
            )
        out.print(f"use it: lookalike index {col.root} --model {run_name}", highlight=False)

    @app.command("models")
    def models(
        folder: Annotated[Path, typer.Argument(help="The collection.")] = Path("."),
        db: Annotated[Path | None, typer.Option(help="Database folder.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """List the autoencoders and metric heads trained on this collection."""
        from lookalike.collection import Collection
        from lookalike.training.runs import list_runs, models_dir

        col = Collection.open(folder, db=db)
        runs = list_runs(col.db)
        if as_json:
            print(json.dumps([r.to_dict() for r in runs], indent=2))
            return
        if not runs:
            out.print(
                f"no trained models in {models_dir(col.db)}; train one with "
                f"lookalike train {col.root}",
                highlight=False,
            )
            return
        table = Table(title=f"trained models in {models_dir(col.db)}", title_justify="left")
        for c in ("name", "arch", "size", "scheduler", "loss", "epochs", "best val loss"):
            table.add_column(c, justify="left" if c in ("name", "arch") else "right")
        for r in runs:
            best = f"{r.best_val_loss:.5f} (epoch {r.best_epoch})" if r.best_val_loss else "-"
            table.add_row(
                r.name,
                r.arch,
                str(r.image_size),
                r.scheduler,
                r.loss,
                f"{r.epochs_done}/{r.epochs}",
                best,
            )
        out.print(table)
