"""Collections named by fsspec URLs: fsspec's in-memory and local filesystems stand in for
an object store (the same calls reach s3fs or gcsfs)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import fsspec
import numpy as np
import pytest

from lookalike import Collection
from lookalike.cli.main import main
from lookalike.errors import CollectionNotFoundError, InvalidOptionError, LookalikeError
from lookalike.grouping import find_duplicates
from lookalike.grouping.actions import plan


@pytest.fixture
def bucket(photos: Path) -> Iterator[str]:
    """The generated photos, a corrupt file and a hidden one, in fsspec's memory store."""
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    fs = fsspec.filesystem("memory")
    files = sorted(f for f in photos.rglob("*") if f.is_file())
    for f in files:
        fs.pipe(f"/bucket/photos/{f.relative_to(photos).as_posix()}", f.read_bytes())
    fs.pipe("/bucket/photos/.hidden/x.jpg", files[0].read_bytes())
    yield "memory://bucket/photos"
    fs.rm("/bucket", recursive=True)


def _vectors(col: Collection) -> dict[str, np.ndarray]:
    table = col.vectors(model="test-tiny")
    return {p: table.vectors[k] for k, p in enumerate(table.paths)}


def test_a_url_collection_indexes_searches_and_groups_like_a_folder(
    bucket: str, photos: Path, tmp_path: Path
) -> None:
    with Collection.open(photos) as col:
        col.index(model="test-tiny")
        local = _vectors(col)
        local_skipped = [(s.path, s.reason) for s in col.info().skipped]
    with Collection.open(bucket, db=tmp_path / "db") as col:
        report = col.index(model="test-tiny", batch_size=4)
        assert (report.indexed, report.newly_skipped) == (24, 1)
        skipped = [(s.path, s.reason) for s in col.info().skipped]
        assert skipped == local_skipped and [p for p, _ in skipped] == ["broken.jpg"]
        remote = _vectors(col)
        assert remote.keys() == local.keys()  # the hidden folder is passed over
        assert all(np.allclose(remote[p], local[p]) for p in local)

        name = sorted(local)[0]
        by_url = col.search(f"{bucket}/{name}", k=3)
        by_rel = col.search(name, k=3)
        assert [m.location for m in by_url.matches] == [m.location for m in by_rel.matches]
        assert all(m.location.startswith(bucket + "/") for m in by_url.matches)
        assert name not in {m.location.rsplit("/", 1)[1] for m in by_url.matches}
        assert str(by_url.matches[0].path) == by_url.matches[0].location

        groups = find_duplicates(col, model="test-tiny", verify=False)
        assert groups.groups and all(
            str(m.path).startswith(bucket) for g in groups.groups for m in g.members
        )
        with pytest.raises(LookalikeError, match="only in a local folder"):
            plan(groups, move_to=tmp_path / "out")

        # a new file and a changed one (another size): only those are embedded again
        fs = fsspec.filesystem("memory")
        first, second = sorted(local)[:2]
        fs.pipe(f"/bucket/photos/{first}", fs.cat(f"/bucket/photos/{second}") + b"\0")
        fs.pipe("/bucket/photos/new.jpg", fs.cat(f"/bucket/photos/{second}"))
        again = col.index(model="test-tiny")
        assert (again.indexed, again.unchanged) == (2, 23)
        now = _vectors(col)
        assert np.allclose(now["new.jpg"], now[second]) and np.allclose(now[first], now[second])


def test_fsspec_local_filesystem_gives_the_vectors_of_the_plain_folder(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = photos.resolve().as_uri()  # file:///...: read through fsspec's local filesystem
    db = tmp_path / "db"
    assert main(["index", url, "--db", str(db), "--model", "test-tiny", "-q"]) == 0
    assert "Indexed 24 images" in capsys.readouterr().out
    name = sorted(p.name for p in photos.glob("*.jpg"))[0]
    assert main(["search", name, "--in", url, "--db", str(db), "-k", "2", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert len(found["results"]) == 2 and found["results"][0]["path"].startswith(url)

    plain = tmp_path / "plain"
    shutil.copytree(photos, plain)
    with Collection.open(plain) as col:
        col.index(model="test-tiny")
        a = _vectors(col)
    with Collection.open(url, db=db) as col:
        b = _vectors(col)
    assert a.keys() == b.keys() and all(np.allclose(a[p], b[p]) for p in a)


def test_url_errors_are_one_clear_line(bucket: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidOptionError, match="--db FOLDER"):
        Collection.open(bucket)
    with pytest.raises(CollectionNotFoundError, match="folder not found"):
        Collection.open("memory://bucket/nothing-here", db=tmp_path)
    with pytest.raises(CollectionNotFoundError, match="cannot open"):
        Collection.open("nosuchscheme://bucket/x", db=tmp_path)


@pytest.mark.parametrize("command", ["serve", "ui"])
def test_serve_and_ui_refuse_a_url_in_one_line(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("streamlit" if command == "ui" else "fastapi")
    assert main([command, "memory://bucket/photos"]) == 2
    err = capsys.readouterr().err
    assert "takes folders on this machine" in err and "Traceback" not in err
