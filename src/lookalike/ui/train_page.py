"""Train page: start one of the report's four autoencoders with the report's parameters in
a background process that outlives a page reload; live loss curves; stop it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import streamlit as st

from lookalike.encoders.autoencoder_nets import ARCHS
from lookalike.training.runs import list_runs, models_dir
from lookalike.training.trainer import LOSSES, SCHEDULERS
from lookalike.ui.shared import pick_collection


def _pid_file(db: Path, name: str) -> Path:
    return models_dir(db) / f"{name}.pid"


def running(db: Path, name: str) -> int | None:
    """The pid of a live training process for this run, if any."""
    f = _pid_file(db, name)
    if not f.exists():
        return None
    pid = int(f.read_text())
    try:
        os.kill(pid, 0)
    except OSError:
        f.unlink(missing_ok=True)
        return None
    return pid


def start(root: Path, db: Path, name: str, args: list[str]) -> int:
    """Launch ``lookalike train`` detached (its own session), logging beside the run."""
    models_dir(db).mkdir(parents=True, exist_ok=True)
    log = open(models_dir(db) / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "lookalike", "train", str(root), "--name", name, *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    _pid_file(db, name).write_text(str(proc.pid))
    return proc.pid


def stop(db: Path, name: str) -> None:
    """Stop a run; it can be resumed from its last finished epoch."""
    pid = running(db, name)
    if pid is not None:
        os.killpg(pid, signal.SIGTERM)
        _pid_file(db, name).unlink(missing_ok=True)


def render() -> None:
    """The page."""
    st.title("Train on this collection")
    with st.sidebar:
        col = pick_collection("train-collection")
    if col is None:
        return
    metric_form(col.root, col.db)
    st.subheader("The origin report's autoencoders")
    with st.form("train-form"):
        c1, c2, c3 = st.columns(3)
        arch = c1.selectbox("Model", ARCHS, index=1)
        epochs = c2.number_input("Epochs", 1, 1000, 40)
        batch = c3.number_input("Batch size", 1, 1024, 32)
        lr = c1.number_input("Learning rate", 1e-6, 1.0, 1e-3, format="%.5f")
        scheduler = c2.selectbox("Scheduler", SCHEDULERS)
        loss = c3.selectbox("Loss", LOSSES)
        size = c1.selectbox("Image size", [224, 160, 112, 96, 64])
        name = c2.text_input("Run name", f"{arch}-ui")
        go = st.form_submit_button("Start training", type="primary")
    if go:
        if running(col.db, name):
            st.warning(f"{name} is already training")
        else:
            start(
                col.root,
                col.db,
                name,
                [
                    "--arch",
                    arch,
                    "--epochs",
                    str(epochs),
                    "--batch-size",
                    str(batch),
                    "--lr",
                    str(lr),
                    "--scheduler",
                    scheduler,
                    "--loss",
                    loss,
                    "--image-size",
                    str(size),
                ],
            )
            st.success(f"Started {name}")
    live(col.db)


def metric_form(root: Path, db: Path) -> None:
    """A metric head: learns the collection from its folders (labels) or its images."""
    st.subheader("Metric head on a pretrained encoder")
    st.caption(
        "Learns from the sub-folders as groups (labels), or from the images alone "
        "(whitening). Takes seconds once the collection is indexed."
    )
    with st.form("metric-form"):
        c1, c2, c3 = st.columns(3)
        labels = c1.selectbox("Learn from", ["folders", "none"], key="metric-labels")
        loss = c2.selectbox("Loss", ["supcon", "triplet"], key="metric-loss")
        epochs = c3.number_input("Epochs", 1, 500, 30, key="metric-epochs")
        name = c1.text_input("Run name", "metric-ui", key="metric-name")
        go = st.form_submit_button("Train the head", type="primary")
    if go:
        if running(db, name):
            st.warning(f"{name} is already training")
        else:
            args = ["--arch", "metric", "--labels", labels, "--loss", loss]
            start(root, db, name, [*args, "--epochs", str(epochs)])
            st.success(f"Started {name}; use it as the encoder {name} on the Search page")


@st.fragment(run_every=3)
def live(db: Path) -> None:
    """Runs with their loss curves, refreshed every few seconds."""
    for run in list_runs(db):
        pid = running(db, run.name)
        with st.container(border=True):
            state = "training" if pid else "stopped"
            st.markdown(
                f"**{run.name}** · {run.arch} · {run.image_size}px · {run.scheduler} · "
                f"{run.loss} · epoch {run.epochs_done}/{run.epochs} · {state}"
            )
            hist_file = run.path / "history.json"
            if hist_file.exists():
                hist = json.loads(hist_file.read_text())
                st.line_chart(
                    {
                        "train": [h["train_loss"] for h in hist],
                        "validation": [h["val_loss"] for h in hist],
                    },
                    height=200,
                )
            if pid and st.button("Stop", key=f"stop-{run.name}"):
                stop(db, run.name)
                st.rerun()
