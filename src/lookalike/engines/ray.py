"""The Ray engine: the local engine's decode and encode functions as Ray Data stages.

File entries (path, size, modification time: the index run already chose the new and
changed ones) become a Ray dataset; decoding runs in Ray tasks, encoding in an actor
pool whose actors each load the encoder once (one ONNX thread each, or a GPU where an
actor is given one), and the vectors stream back to this process, which writes them to
the catalogue and vector store exactly as the local engine's: flushed every few
thousand images or seconds, so a killed run resumes after the last flush.

Without an address a local Ray is started for the run (and stopped after it); with one
(``auto``, ``ray://host:10001`` or ``host:6379``) the run joins that cluster, whose
workers must see the collection's folder at the same path (a shared file system).

Every stage asks for a fraction of a CPU: on a small machine a reader plus whole-CPU
actors can wait on each other's budget forever.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from lookalike.config import default_workers
from lookalike.encoders.base import Encoder
from lookalike.engines.local import EmbeddedBatch
from lookalike.errors import ImageDecodeError, LookalikeError, require_module
from lookalike.imageio import FileEntry, read_image
from lookalike.store.catalog import FileRecord

#: CPU share each stage asks Ray for (see the module docstring).
STAGE_CPUS = 0.5
_TEXT = ("relpath", "sha256", "format", "error")


def decode_rows(batch: dict[str, NDArray[Any]], root: str, size: int) -> dict[str, NDArray[Any]]:
    """Ray task: decode each file of the batch to ``size`` x ``size`` pixels; an
    unreadable file keeps its row with the reason (and blank pixels)."""
    n = len(batch["relpath"])
    pixels = np.zeros((n, size, size, 3), np.uint8)
    out: dict[str, list[Any]] = {k: [] for k in ("sha256", "width", "height", "format", "error")}
    for k, rel in enumerate(batch["relpath"].tolist()):
        try:
            img = read_image(Path(root) / rel, size=size)
        except ImageDecodeError as exc:
            for key, value in (("sha256", ""), ("width", 0), ("height", 0), ("format", "")):
                out[key].append(value)
            out["error"].append(exc.reason)
            continue
        pixels[k] = img.pixels
        out["sha256"].append(img.sha256)
        out["width"].append(img.width or 0)
        out["height"].append(img.height or 0)
        out["format"].append(img.format or "")
        out["error"].append("")
    return {
        "relpath": batch["relpath"],
        "size": batch["size"],
        "mtime_ns": batch["mtime_ns"],
        **{k: np.asarray(v, object if k in _TEXT else np.int64) for k, v in out.items()},
        "pixels": pixels,
    }


class EncodeActor:
    """Ray actor: holds one encoder (built once) and encodes the readable rows."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder

    def __call__(self, batch: dict[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
        ok = np.asarray([not e for e in batch["error"].tolist()], bool)
        vectors = np.zeros((len(ok), self.encoder.dim), np.float32)
        if ok.any():
            pixels = batch["pixels"][ok]
            vectors[ok] = self.encoder.encode(pixels, batch_size=max(1, len(pixels)))
        rest = {k: v for k, v in batch.items() if k != "pixels"}
        return {**rest, "vector": vectors}


def to_embedded(batch: dict[str, NDArray[Any]]) -> EmbeddedBatch:
    """A finished Ray batch as the index run's :class:`EmbeddedBatch`."""
    records = []
    ok = []
    for k, rel in enumerate(batch["relpath"].tolist()):
        error = str(batch["error"][k] or "")
        ok.append(not error)
        if error:
            records.append(
                FileRecord(rel, int(batch["size"][k]), int(batch["mtime_ns"][k]), error=error)
            )
        else:
            records.append(
                FileRecord(
                    rel,
                    int(batch["size"][k]),
                    int(batch["mtime_ns"][k]),
                    str(batch["sha256"][k]),
                    int(batch["width"][k]) or None,
                    int(batch["height"][k]) or None,
                    str(batch["format"][k]) or None,
                )
            )
    vectors = np.asarray(batch["vector"], np.float32)[np.asarray(ok, bool)]
    return EmbeddedBatch(records, vectors)


class RayEngine:
    """Embeds on Ray Data: decode tasks, then an actor pool of encoders."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        actors: int | None = None,
        num_cpus: int | None = None,
        num_gpus: float = 0.0,
    ) -> None:
        require_module("ray", "the Ray engine needs Ray Data", "ray")
        self.address = address
        self.actors = actors
        self.num_cpus = num_cpus
        self.num_gpus = float(num_gpus)
        self._started = False

    def describe(self) -> str:
        """The engine and where it runs, in words."""
        where = f"the Ray cluster at {self.address}" if self.address else "a local Ray"
        return f"Ray Data on {where}"

    def _connect(self) -> Any:
        import ray

        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "logging_level": logging.ERROR,
                "configure_logging": True,
            }
            if self.address:
                kwargs["address"] = self.address
            else:
                kwargs["num_cpus"] = self.num_cpus or default_workers()
                # workers import the same packages (and plugins) as this process
                kwargs["runtime_env"] = {"env_vars": _inherited_env()}
            try:
                ray.init(**kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise LookalikeError(f"could not start or join Ray: {exc}") from None
            self._started = True
        return ray

    def stream(
        self,
        root: Path,
        entries: Sequence[FileEntry],
        encoder: Encoder,
        *,
        batch_size: int = 32,
        workers: int | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Generator[EmbeddedBatch, None, None]:
        """Embedded batches as Ray finishes them."""
        if not entries:
            return
        ray = self._connect()
        from ray import data
        from ray.data import ActorPoolStrategy

        logging.getLogger("ray.data").setLevel(logging.ERROR)
        ctx = data.DataContext.get_current()
        ctx.enable_progress_bars = False  # the run reports progress itself
        ctx.print_on_execution_start = False
        cpus = float(ray.cluster_resources().get("CPU", 1))
        actors = self.actors or workers or max(1, int(cpus))
        rows = [{"relpath": e.relpath, "size": e.size, "mtime_ns": e.mtime_ns} for e in entries]
        blocks = max(1, min(len(rows) // max(1, batch_size), 4 * max(1, int(cpus))))
        ds = data.from_items(rows, override_num_blocks=blocks)
        ds = ds.map_batches(
            decode_rows,
            fn_kwargs={"root": str(root), "size": encoder.preprocess.size},
            batch_size=batch_size,
            batch_format="numpy",
            num_cpus=STAGE_CPUS,
        )
        with warnings.catch_warnings():  # the restart setting's argument is deprecated
            warnings.filterwarnings("ignore", message=".*ray_remote_args_fn.*")
            ds = ds.map_batches(
                EncodeActor,
                fn_constructor_args=(encoder,),
                compute=ActorPoolStrategy(size=actors),
                batch_size=batch_size,
                batch_format="numpy",
                num_cpus=STAGE_CPUS,
                num_gpus=self.num_gpus or None,
                # a failed actor fails the run, which resumes after its last flush
                ray_remote_args_fn=_no_restarts,
            )
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=1):
            yield to_embedded(batch)
            if should_stop and should_stop():
                return

    def close(self) -> None:
        """Stop the local Ray this engine started (a joined cluster keeps running)."""
        if self._started:
            import ray

            ray.shutdown()
            self._started = False


def _no_restarts() -> dict[str, Any]:
    return {"max_restarts": 0}


def _inherited_env() -> dict[str, str]:
    """The variables a local Ray's workers need to import and configure what this
    process does (the interpreter's path, lookalike's settings)."""
    keep = ("PYTHONPATH", "LOOKALIKE_HOME", "LOOKALIKE_DEBUG", "OMP_NUM_THREADS")
    return {k: os.environ[k] for k in keep if k in os.environ}
