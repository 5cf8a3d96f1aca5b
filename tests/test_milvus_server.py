"""The Milvus backend against a real Milvus standalone server (the ``milvus`` package's,
started once for this module): index, search with both metrics, delete, re-add, group,
and the token never written to disk."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from imagegen import SCENES
from lookalike import Collection
from lookalike.grouping import find_duplicates
from lookalike.index import create_index

pytest.importorskip("milvus")
pytest.importorskip("pymilvus")
pytestmark = [pytest.mark.milvus_server, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from lookalike.index.milvus_server import milvus_standalone

    with milvus_standalone(tmp_path_factory.mktemp("milvus-server")) as uri:
        yield uri


def test_collection_end_to_end_on_a_server(
    server: str, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOKALIKE_MILVUS_TOKEN", "root:Milvus")  # a server without auth ignores it
    options = {"uri": server}
    kind, seed = SCENES[2]
    query = photos / f"{kind}-{seed}.jpg"
    with Collection.open(photos) as col:
        report = col.index(model="test-tiny", index="milvus", index_options=options)
        assert report.index.kind == "milvus" and report.index.count == 24
        for metric in ("cosine", "euclidean"):
            res = col.search(query, k=3, metric=metric, check_recall=True)
            assert res.index == "milvus" and res.recall == 1.0, metric
            assert res.matches[0].path.name.startswith(f"{kind}-{seed}-")
            assert res.metric == metric
        # delete: the file leaves the index at once (Strong reads), and comes back
        cropped = photos / "variants" / f"{kind}-{seed}-cropped.png"
        kept = photos.parent / "kept.png"
        shutil.move(cropped, kept)
        col.index(model="test-tiny")
        names = [m.path.name for m in col.search(query, k=24)]
        assert cropped.name not in names and len(names) == 22
        shutil.move(kept, cropped)
        col.index(model="test-tiny")
        names = [m.path.name for m in col.search(query, k=24)]
        assert cropped.name in names and len(names) == 23
        groups = find_duplicates(col, verify=False)
        assert any(
            {query.name, cropped.name} <= {m.path.name for m in g.members} for g in groups.groups
        )
    stored = b"".join(p.read_bytes() for p in (photos / ".lookalike").rglob("*") if p.is_file())
    assert b"root:Milvus" not in stored


def test_ten_thousand_deletes_and_re_adds_leave_no_stale_result(server: str) -> None:
    rng = np.random.default_rng(0)
    dim, n = 32, 12_000
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    index = create_index("milvus", dim, "cosine", uri=server, collection="stale_check")
    try:
        index.add(np.arange(n), vectors)
        assert len(index) == n
        gone = np.arange(0, 10_000)
        assert index.remove(gone) == 10_000
        assert len(index) == n - 10_000
        hits = index.search(vectors[:200], 5)
        assert not np.isin(hits.ids, gone).any()  # no deleted id is ever returned
        moved = -vectors[:10_000]  # re-added with new vectors
        index.add(gone, moved)
        assert len(index) == n
        hits = index.search(moved[:200], 1)
        assert (hits.ids[:, 0] == gone[:200]).all()
        old = index.search(vectors[:200], 1)  # the old vectors are not found any more
        assert not (old.ids[:, 0] == gone[:200]).any()
    finally:
        index.drop()
