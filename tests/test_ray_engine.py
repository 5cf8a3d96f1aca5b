"""The Ray engine against the local one: the same vectors, skipped files and reasons, the
same incremental and resumable runs, on one node and on a two-node cluster.

Each test has a timeout, so a stalled Ray pipeline fails instead of hanging."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from conftest import kill_once_saved
from lookalike import Collection

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.timeout(240)
TESTS = str(Path(__file__).parent)


@pytest.fixture(scope="module", autouse=True)
def _ray_env() -> Iterator[None]:
    """Ray's temporary files in a test folder; its workers import the test encoder from
    this folder (as a plugin would be importable on a cluster's workers)."""
    saved = {k: os.environ.get(k) for k in ("RAY_TMPDIR", "PYTHONPATH")}
    # a short folder: Ray's socket paths inside it must stay under the 107-byte limit
    os.environ["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (TESTS, saved["PYTHONPATH"]) if p)
    yield
    if ray.is_initialized():
        ray.shutdown()
    shutil.rmtree(os.environ["RAY_TMPDIR"], ignore_errors=True)
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _vectors(root: Path) -> dict[str, np.ndarray]:
    with Collection.open(root) as col:
        table = col.vectors(model="test-tiny")
        return {p: table.vectors[k] for k, p in enumerate(table.paths)}


def _skipped(root: Path) -> dict[str, str]:
    with Collection.open(root) as col:
        return {s.path: s.reason for s in col.info().skipped}


def _pair(photos: Path, tmp_path: Path) -> tuple[Path, Path]:
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (photos / "notes.png").write_text("text, not pixels")
    other = tmp_path / "copy"
    shutil.copytree(photos, other)
    return photos, other


def test_ray_engine_matches_local_and_runs_incrementally(photos: Path, tmp_path: Path) -> None:
    local, distributed = _pair(photos, tmp_path)
    with Collection.open(local) as col:
        a = col.index(model="test-tiny", batch_size=4)
    with Collection.open(distributed) as col:
        b = col.index(model="test-tiny", batch_size=4, engine="ray")
    assert not ray.is_initialized()  # the local Ray it started is stopped again
    assert (b.indexed, b.newly_skipped) == (a.indexed, a.newly_skipped) == (24, 2)
    va, vb = _vectors(local), _vectors(distributed)
    assert va.keys() == vb.keys()
    for path, v in va.items():
        w = vb[path]
        assert float(v @ w / (np.linalg.norm(v) * np.linalg.norm(w))) >= 0.9999, path
    assert _skipped(local) == _skipped(distributed) and len(_skipped(local)) == 2

    # a changed file and a new one: only those two are embedded again
    first, second = sorted(distributed.glob("*-*.jpg"))[:2]
    shutil.copy(second, first)
    shutil.copy(first, distributed / "new.jpg")
    with Collection.open(distributed) as col:
        again = col.index(model="test-tiny", engine="ray")
    assert (again.indexed, again.unchanged) == (2, 23)
    assert np.allclose(_vectors(distributed)["new.jpg"], _vectors(distributed)[first.name])


@pytest.fixture
def running_ray() -> Iterator[None]:
    """A local Ray started by the caller: the engine uses it and leaves it running. Its
    start is tried twice, as the engine does: a busy machine can miss Ray's 30-s limit."""
    for attempt in (1, 2):
        try:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            break
        except Exception:  # Ray raises bare exceptions, e.g. a start-up timeout
            ray.shutdown()
            if attempt == 2:
                raise
    yield
    ray.shutdown()


def test_a_stopped_ray_run_resumes_without_loss_or_duplicates(
    photos: Path, running_ray: None
) -> None:
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] >= 2

    with Collection.open(photos) as col:
        first = col.index(
            model="test-tiny", batch_size=4, engine="ray", should_stop=stop, flush_images=4
        )
        assert first.interrupted and 0 < first.indexed < 24
        rest = col.index(model="test-tiny", batch_size=4, engine="ray")
        assert rest.indexed == 24 - first.indexed and not rest.interrupted
        table = col.vectors(model="test-tiny")
        assert len(table) == 24 and len(set(table.paths)) == 24
        assert len(set(table.ids.tolist())) == 24
    assert ray.is_initialized()  # a Ray the engine did not start is not stopped


def _two_nodes(cluster_class):  # type: ignore[no-untyped-def]
    """A head and a worker node, each with one CPU; the start is tried twice (a node that
    misses Ray's start-up limit on a busy machine is not what this test is about)."""
    for attempt in (1, 2):
        cluster = None
        try:
            cluster = cluster_class(initialize_head=True, head_node_args={"num_cpus": 1})
            cluster.add_node(num_cpus=1)
            cluster.wait_for_nodes()
            return cluster
        except Exception:  # Ray raises bare exceptions, e.g. a start-up timeout
            if cluster is not None:
                cluster.shutdown()
            ray.shutdown()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def test_two_node_cluster_gives_the_one_node_catalogue(photos: Path, tmp_path: Path) -> None:
    from ray.cluster_utils import Cluster

    one, two = _pair(photos, tmp_path)
    with Collection.open(one) as col:
        col.index(model="test-tiny", batch_size=4, engine="ray")
    cluster = _two_nodes(Cluster)
    try:
        with Collection.open(two) as col:
            report = col.index(
                model="test-tiny",
                batch_size=4,
                engine="ray",
                engine_options={"address": cluster.address},
            )
        assert report.indexed == 24
        assert len(cluster.list_all_nodes()) == 2 and not ray.is_initialized()
    finally:
        ray.shutdown()
        cluster.shutdown()
    va, vb = _vectors(one), _vectors(two)
    assert va.keys() == vb.keys() and all(np.allclose(va[p], vb[p]) for p in va)
    assert _skipped(one) == _skipped(two)


def test_ray_reads_a_url_collection_through_fsspec(
    photos: Path, tmp_path: Path, running_ray: None
) -> None:
    from lookalike.errors import InvalidOptionError

    plain, other = _pair(photos, tmp_path)
    with Collection.open(plain) as col:
        col.index(model="test-tiny", batch_size=4)
    url = other.resolve().as_uri()  # file:///...: the actors read it through fsspec
    with Collection.open(url, db=tmp_path / "db") as col:
        report = col.index(model="test-tiny", batch_size=4, engine="ray")
        assert (report.indexed, report.newly_skipped) == (24, 2)
        table = col.vectors(model="test-tiny")
        vb = {p: table.vectors[k] for k, p in enumerate(table.paths)}
        skipped = {s.path: s.reason for s in col.info().skipped}
    va = _vectors(plain)
    assert va.keys() == vb.keys() and all(np.allclose(va[p], vb[p]) for p in va)
    assert skipped == _skipped(plain)

    import fsspec

    fsspec.filesystem("memory").pipe("/ray-bucket/a.jpg", (plain / "broken.jpg").read_bytes())
    mem = Collection.open("memory://ray-bucket", db=tmp_path / "mem")
    with mem, pytest.raises(InvalidOptionError, match="Ray's workers cannot read"):
        mem.index(model="test-tiny", engine="ray")


def test_a_killed_ray_run_resumes_without_loss_or_duplicates(
    photos: Path, tmp_path: Path, running_ray: None
) -> None:
    """SIGKILL the process that runs `index --engine ray` mid-way (it joined the test's
    Ray, as on a cluster), then index again: every image once, the vectors of a clean run."""
    address = ray.get_runtime_context().gcs_address
    script = tmp_path / "run.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {TESTS!r})
            import conftest
            from lookalike import Collection, create_encoder
            enc = create_encoder("test-tiny", delay=0.1)
            Collection.open({str(photos)!r}).index(
                enc, batch_size=2, flush_images=2, flush_seconds=0.01, engine="ray",
                engine_options={{"address": {address!r}}})
            """
        )
    )
    proc = subprocess.Popen([sys.executable, str(script)])
    count = kill_once_saved(proc, photos / ".lookalike" / "catalog.db", at_least=4, timeout=120)
    assert 4 <= count < 24, "the run should have been killed part-way"

    with Collection.open(photos) as col:
        again = col.index(model="test-tiny", batch_size=4, engine="ray")
        assert 0 < again.indexed <= 24 - count  # only what the killed run had not saved
        table = col.vectors(model="test-tiny")
        assert len(table) == 24 and len(set(table.paths)) == 24
    clean = tmp_path / "clean"
    shutil.copytree(photos, clean, ignore=shutil.ignore_patterns(".lookalike"))
    with Collection.open(clean) as col:
        col.index(model="test-tiny", batch_size=4)
    a, b = _vectors(photos), _vectors(clean)
    assert a.keys() == b.keys() and all(np.allclose(a[p], b[p]) for p in a)
