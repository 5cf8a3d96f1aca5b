"""Every typed error of the library reaches a CLI user as one line and exit status 2,
never a traceback. A new error class fails this test until it gets a case here."""

from __future__ import annotations

import inspect
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import lookalike.errors as errors
from conftest import TinyEncoder
from lookalike.cli.main import main
from lookalike.encoders import register_encoder, unregister_encoder
from lookalike.store import writer_lock
from lookalike.store.schema import SCHEMA_VERSION


class BrokenEncoder(TinyEncoder):
    """Returns one value too few per image: a broken plugin."""

    def encode_batch(self, batch: np.ndarray) -> np.ndarray:
        return super().encode_batch(batch)[:, :-1]


def _indexed(photos: Path) -> Path:
    assert main(["index", str(photos), "--model", "test-tiny", "-q"]) == 0
    return photos


def _collection_not_found(photos: Path, tmp: Path) -> list[str]:
    return ["search", str(photos / "a.jpg"), "--in", str(tmp / "missing")]


def _no_images(photos: Path, tmp: Path) -> list[str]:
    (tmp / "empty").mkdir()
    return ["index", str(tmp / "empty"), "-q"]


def _not_indexed(photos: Path, tmp: Path) -> list[str]:
    return ["search", str(next(photos.glob("*.jpg"))), "--in", str(photos)]


def _image_decode(photos: Path, tmp: Path) -> list[str]:
    bad = tmp / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is no JPEG")
    return ["search", str(bad), "--in", str(_indexed(photos))]


def _invalid_option(photos: Path, tmp: Path) -> list[str]:
    return ["index", str(photos), "--model", "color-histogram", "--pooling", "max", "-q"]


def _unknown_encoder(photos: Path, tmp: Path) -> list[str]:
    return ["index", str(photos), "--model", "no-such-encoder", "-q"]


def _unsupported_pooling(photos: Path, tmp: Path) -> list[str]:
    return ["index", str(photos), "--pooling", "banana", "-q"]


def _unknown_index(photos: Path, tmp: Path) -> list[str]:
    return ["index", str(photos), "--model", "test-tiny", "--index", "no-such-index", "-q"]


def _encoder_mismatch(photos: Path, tmp: Path) -> list[str]:
    _indexed(photos)
    with sqlite3.connect(photos / ".lookalike" / "catalog.db") as db:
        db.execute("UPDATE vector_sets SET key = key || '-older'")
    source = next(p for p in sorted(photos.iterdir()) if p.is_file())
    outside = tmp / f"query{source.suffix}"
    outside.write_bytes(source.read_bytes())
    return ["search", str(outside), "--in", str(photos)]


def _collection_busy(photos: Path, tmp: Path) -> list[str]:
    return ["index", str(photos), "--model", "test-tiny", "-q"]


def _store(photos: Path, tmp: Path) -> list[str]:
    _indexed(photos)
    with sqlite3.connect(photos / ".lookalike" / "catalog.db") as db:
        db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (SCHEMA_VERSION + 1,))
    return ["info", str(photos)]


def _missing_extra(photos: Path, tmp: Path) -> list[str]:
    return ["ui", str(photos)]  # with Streamlit blocked by the test


def _encoder_output(photos: Path, tmp: Path) -> list[str]:
    return ["index", str(photos), "--model", "test-broken", "-q"]


CASES: dict[type[errors.LookalikeError], Callable[[Path, Path], list[str]]] = {
    errors.CollectionNotFoundError: _collection_not_found,
    errors.NoImagesError: _no_images,
    errors.NotIndexedError: _not_indexed,
    errors.ImageDecodeError: _image_decode,
    errors.InvalidOptionError: _invalid_option,
    errors.UnknownEncoderError: _unknown_encoder,
    errors.UnsupportedPoolingError: _unsupported_pooling,
    errors.UnknownIndexError: _unknown_index,
    errors.EncoderMismatchError: _encoder_mismatch,
    errors.CollectionBusyError: _collection_busy,
    errors.StoreError: _store,
    errors.EncoderOutputError: _encoder_output,
    errors.MissingExtraError: _missing_extra,
}


def test_every_error_class_has_a_case() -> None:
    defined = {
        c
        for _, c in inspect.getmembers(errors, inspect.isclass)
        if issubclass(c, errors.LookalikeError) and c is not errors.LookalikeError
    }
    assert defined == set(CASES)


@pytest.mark.parametrize("error", list(CASES), ids=lambda c: c.__name__)
def test_error_is_one_line_and_exit_2(
    error: type[errors.LookalikeError],
    photos: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    register_encoder("test-broken", BrokenEncoder, description="broken", replace=True)
    if error is errors.MissingExtraError:
        monkeypatch.setitem(sys.modules, "streamlit", None)
    try:
        args = CASES[error](photos, tmp_path)
        capsys.readouterr()
        if error is errors.CollectionBusyError:
            with writer_lock(photos / ".lookalike", str(photos)):
                code = main(args)
        else:
            code = main(args)
    finally:
        unregister_encoder("test-broken")
    captured = capsys.readouterr()
    lines = [ln for ln in captured.err.splitlines() if ln.strip()]
    assert code == 2, (error.__name__, captured.err)
    assert len(lines) == 1 and lines[0].startswith("error:"), captured.err
    assert "Traceback" not in captured.err + captured.out


@pytest.mark.parametrize(
    ("blocked", "args", "extra"),
    [
        ("streamlit", ["ui", "{dir}"], "ui"),
        ("skimage", ["demo", "--out", "{dir}/demo"], "samples"),
        ("skimage", ["evaluate-groups", "--out", "{dir}/set"], "samples"),
        ("pymilvus", ["index", "{dir}", "--backend", "milvus", "--uri", "{dir}/m.db"], "milvus"),
        ("fastapi", ["serve", "{dir}"], "serve"),
        ("ray", ["index", "{dir}", "--engine", "ray"], "ray"),
    ],
)
def test_a_missing_extra_is_one_line_naming_it(
    blocked: str, args: list[str], extra: str, tmp_path: Path
) -> None:
    """Each command that needs an optional part says which extra to install, exactly,
    before doing anything visible, with no traceback."""
    import subprocess
    import sys

    from imagegen import write_collection

    write_collection(tmp_path / "photos")
    argv = [a.format(dir=tmp_path / "photos") for a in args]
    code = (
        f"import sys; sys.modules[{blocked!r}] = None; "
        "from lookalike.cli.main import main; "
        f"sys.exit(main({argv!r}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[-1].endswith(f"pip install 'lookalike[{extra}]'"), done.stderr
    assert "Traceback" not in done.stderr and "lookalike UI on" not in done.stderr


def test_everyday_commands_print_no_library_noise(tmp_path: Path) -> None:
    """A run through the everyday commands, as a user's shell sees it (one process each):
    no traceback and no library's raw warning in what they print."""
    import subprocess
    import sys

    from imagegen import write_collection

    root = tmp_path / "photos"
    write_collection(root, variants=("resized", "cropped", "flipped"))
    query = str(next(iter(sorted(root.glob("*.jpg")))))
    commands = [
        ["index", str(root), "--model", "efficientnet-lite0"],
        ["search", query, "--in", str(root), "--rerank"],
        ["group", str(root)],
        ["group", str(root), "--mode", "clusters", "--algo", "kmeans", "--k", "20"],
        ["group", str(root), "--mode", "clusters", "--algo", "hdbscan"],
        ["info", str(root)],
        ["evaluate", str(root), "--json"],
        ["train", str(root), "--arch", "metric", "--labels", "none"],
        ["models", str(root)],
        ["--version"],
    ]
    for args in commands:
        done = subprocess.run(
            [sys.executable, "-m", "lookalike", *args], capture_output=True, text=True
        )
        said = done.stdout + done.stderr
        assert done.returncode == 0, (args, said)
        for noise in ("Traceback", "WARNING", "UserWarning", "FutureWarning"):
            assert noise not in said, (args, said)


def test_ctrl_c_says_the_work_is_kept_and_exits_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C in a command (typer turns its KeyboardInterrupt into a returned status
    outside standalone mode, which was lost: the run ended silently with status 0)."""
    from lookalike import collection

    def interrupted(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr(collection.Collection, "open", interrupted)
    assert main(["info", str(tmp_path)]) == 130
    assert "interrupted; finished work is saved" in capsys.readouterr().err
