"""Shared fixtures: a private cache folder, a tiny deterministic encoder registered
through the real registry, and generated image collections."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from imagegen import write_collection
from lookalike.encoders import Encoder, Preprocess, register_encoder


class TinyEncoder(Encoder):
    """8x8 thumbnail of the image as a 192-d vector: fast, deterministic, content-true."""

    def __init__(self, *, image_size: int = 8, delay: float = 0.0) -> None:
        self.name = "test-tiny"
        self.preprocess = Preprocess(size=image_size, mean=(0, 0, 0), std=(255, 255, 255))
        self.dim = 3 * image_size * image_size
        self.version = "t1"
        self.delay = delay
        self.options = {"image_size": image_size}

    def encode_batch(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        if self.delay:
            import time

            time.sleep(self.delay * len(batch))
        return batch.reshape(len(batch), -1).astype(np.float32)


def register_tiny() -> None:
    register_encoder("test-tiny", TinyEncoder, description="test encoder", replace=True)


register_tiny()


def kill_once_saved(
    proc: subprocess.Popen[bytes], db: Path, *, at_least: int, timeout: float
) -> int:
    """SIGKILL the index run in ``proc`` once its catalogue ``db`` counts ``at_least``
    vectors (or it ended, or ``timeout`` seconds passed); the count it had reached."""
    from lookalike.store import Catalog

    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        if db.exists():
            try:
                cat = Catalog(db)
                sets = cat.vector_sets()
                count = sets[0].count if sets else 0
                cat.close()
            except Exception:  # the run is creating it
                continue
            if count >= at_least:
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return count


@pytest.fixture(scope="session")
def lookalike_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lookalike-home")


@pytest.fixture(autouse=True)
def _private_home(monkeypatch: pytest.MonkeyPatch, lookalike_home: Path) -> None:
    """Exported models go to a session-wide temp folder, never the user's cache."""
    monkeypatch.setenv("LOOKALIKE_HOME", str(lookalike_home))


@pytest.fixture(scope="session")
def _collection_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("template") / "photos"
    write_collection(root)
    return root


@pytest.fixture
def photos(tmp_path: Path, _collection_template: Path) -> Path:
    """A fresh copy of a generated collection: 8 scenes, each with 2 altered copies."""
    root = tmp_path / "photos"
    shutil.copytree(_collection_template, root)
    return root


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every file the embedding pipeline decodes from now on (the real decoder runs)."""
    import lookalike.engines.local as embedding

    seen: list[str] = []
    real_read = embedding.read_image

    def counting_read(path: Path, **kw: Any) -> Any:
        seen.append(str(path))
        return real_read(path, **kw)

    monkeypatch.setattr(embedding, "read_image", counting_read)
    return seen
