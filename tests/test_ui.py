"""The web platform: page logic with Streamlit's AppTest, path safety, uploads, and an
end-to-end run in a real headless Chromium (marker ``browser``)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lookalike import Collection
from lookalike.errors import LookalikeError
from lookalike.ui.safety import ROOTS_ENV, UPLOAD_LIMIT_ENV, PathNotAllowedError, resolve_allowed

APP = Path(__file__).resolve().parents[1] / "src" / "lookalike" / "ui" / "app.py"
ARTIFACTS = Path(
    os.environ.get(
        "LOOKALIKE_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"
    )
)


@pytest.fixture
def indexed(photos: Path) -> Path:
    with Collection.open(photos) as col:
        col.index(workers=1)
    return photos


def test_paths_must_stay_under_the_roots(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "escape").symlink_to(outside, target_is_directory=True)
    assert resolve_allowed("sub", [root]) == root / "sub"
    assert resolve_allowed(root / "sub", [root]) == root / "sub"
    for bad in ("..", "../outside", str(outside), "/etc", "escape", "sub/../../outside"):
        with pytest.raises(PathNotAllowedError):
            resolve_allowed(bad, [root])
    with pytest.raises(PathNotAllowedError):
        resolve_allowed("sub", [])


def test_uploads_are_checked(monkeypatch: pytest.MonkeyPatch, indexed: Path) -> None:
    from lookalike.ui.shared import save_upload

    data = (indexed / "shapes-1.jpg").read_bytes()
    monkeypatch.setenv(UPLOAD_LIMIT_ENV, "0.001")  # about 1 KB
    with pytest.raises(LookalikeError, match="limit"):
        save_upload(data, "big.jpg")
    monkeypatch.setenv(UPLOAD_LIMIT_ENV, "20")
    with pytest.raises(LookalikeError, match="not an image"):
        save_upload(b"just some text, not a picture" * 10, "notes.jpg")


def _app(monkeypatch: pytest.MonkeyPatch, roots: list[Path]):  # type: ignore[no-untyped-def]
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv(ROOTS_ENV, json.dumps([str(r) for r in roots]))
    at = AppTest.from_file(str(APP), default_timeout=120)
    return at


def test_search_page_picks_a_query_and_shows_k_results(
    monkeypatch: pytest.MonkeyPatch, indexed: Path
) -> None:
    at = _app(monkeypatch, [indexed]).run()
    assert not at.exception
    assert at.title[0].value == "Search by example"
    at.selectbox(key="search-pick").select("shapes-7.jpg").run()
    at.button(key="search-pick-go").click().run()
    assert not at.exception
    # Grid cells come column by column; order them by their rank.
    cells = [m.value for m in at.markdown if m.value.startswith("**#")]
    ranks = sorted(cells, key=lambda v: int(v[3 : v.index("**", 3)]))
    assert len(ranks) == 8
    assert "shapes-7-" in ranks[0]  # an altered copy of the query comes first
    at.slider(key="search-k").set_value(3).run()
    assert len([m for m in at.markdown if m.value.startswith("**#")]) == 3
    # Clicking a result (the second) searches from it.
    at.button(key="again-1").click().run()
    assert not at.exception
    assert at.session_state["query"].endswith(ranks[1].split("  \n")[1])


def test_unindexed_collection_offers_indexing(
    monkeypatch: pytest.MonkeyPatch, photos: Path
) -> None:
    at = _app(monkeypatch, [photos]).run()
    assert any("no efficientnet-lite0 vectors" in i.value for i in at.info)
    at.button[0].click().run()
    assert not at.exception
    assert Collection.open(photos).info().vector_sets[0].count == 24


def test_no_roots_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(monkeypatch, []).run()
    assert any("lookalike ui DIR" in e.value for e in at.error)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(indexed: Path):  # type: ignore[no-untyped-def]
    """The real ``lookalike ui`` on a free loopback port, stopped afterwards."""
    port = _free_port()
    log = open(indexed.parent / "ui.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "lookalike", "ui", str(indexed), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("the UI did not start: " + (indexed.parent / "ui.log").read_text()[-2000:])
    yield f"http://127.0.0.1:{port}"
    os.killpg(proc.pid, 15)
    proc.wait(timeout=30)
    log.close()


@pytest.mark.browser
def test_browser_end_to_end(server: str, indexed: Path) -> None:
    """Upload a query, see k results with the right top match, click a result to search
    again, open the groups page; a screenshot of each page is kept."""
    playwright = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("no chromium")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server)
        page.wait_for_selector("text=Search by example", timeout=90_000)
        page.locator("input[type=file]").set_input_files(str(indexed / "shapes-2.jpg"))
        page.wait_for_selector("text=#8", timeout=120_000)
        page.wait_for_load_state("networkidle")
        captions = page.locator("[data-testid=stMarkdownContainer] p").all_inner_texts()
        ranked = sorted(
            (c for c in captions if c.startswith("#")), key=lambda c: int(c[1 : c.index(" ")])
        )
        assert len(ranked) == 8
        assert "shapes-2" in ranked[0] and "shapes-2" in ranked[1]
        page.screenshot(path=str(ARTIFACTS / "ui-search.png"), full_page=True)

        page.get_by_role("button", name="Search").nth(2).click()  # the third result
        page.wait_for_timeout(3000)
        page.wait_for_selector("text=#8", timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "ui-search-again.png"), full_page=True)

        page.goto(server + "/groups")
        page.wait_for_selector("text=Dry run", timeout=120_000)  # the page's last section
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(2000)
        page.screenshot(path=str(ARTIFACTS / "ui-groups.png"), full_page=True)
        browser.close()


def _compare_script() -> None:
    from lookalike.ui import compare_page

    compare_page.render()


def _train_script() -> None:
    from lookalike.ui import train_page

    train_page.render()


def test_compare_page_scores_a_labelled_collection(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from streamlit.testing.v1 import AppTest

    from imagegen import scene, variant

    root = tmp_path / "labelled"
    for kind, seed in (("shapes", 1), ("stripes", 5)):
        (root / kind).mkdir(parents=True)
        im = scene(kind, seed)
        im.save(root / kind / "a.png")
        for how in ("resized", "cropped", "flipped"):
            variant(im, how).save(root / kind / f"{how}.png")
    monkeypatch.setenv(ROOTS_ENV, json.dumps([str(root)]))
    at = AppTest.from_function(_compare_script, default_timeout=120).run()
    at.multiselect[0].set_value(["test-tiny"]).run()
    at.button[0].click().run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["model"]) == ["test-tiny"] and 0.0 <= table["P@8"][0] <= 1.0
    assert at.image  # the best and worst queries


def test_train_page_lists_runs(monkeypatch: pytest.MonkeyPatch, photos: Path) -> None:
    from streamlit.testing.v1 import AppTest

    from lookalike.training.trainer import TrainConfig, Trainer

    run = photos / ".lookalike" / "models" / "tiny"
    Trainer(photos, run, TrainConfig(arch="model1", epochs=1, batch_size=8, image_size=64)).fit()
    monkeypatch.setenv(ROOTS_ENV, json.dumps([str(photos)]))
    at = AppTest.from_function(_train_script, default_timeout=120).run()
    assert not at.exception
    assert any("**tiny** · model1 · 64px" in m.value for m in at.markdown)
    assert any("stopped" in m.value for m in at.markdown)


def _groups_script() -> None:
    from lookalike.ui import groups_page

    groups_page.render()


def test_groups_page_shows_clusters_with_sizes(
    monkeypatch: pytest.MonkeyPatch, indexed: Path
) -> None:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv(ROOTS_ENV, json.dumps([str(indexed)]))
    at = AppTest.from_function(_groups_script, default_timeout=120).run()
    at.radio(key="groups-mode").set_value("clusters").run()
    at.selectbox(key="groups-algo").set_value("kmeans").run()
    at.number_input(key="groups-k").set_value(3).run()
    assert not at.exception
    assert any("3 clusters" in c.value and "k = 3 given" in c.value for c in at.caption)
    headers = [h.value for h in at.subheader]
    assert len(headers) == 3 and all(h.startswith("cluster ") for h in headers)
    with Collection.open(indexed) as col:
        images = len(col.vectors())
    assert sum(int(h.split("· ")[1].split()[0]) for h in headers) == images
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")  # the size chart


def test_train_page_offers_the_metric_head_and_lists_it(
    monkeypatch: pytest.MonkeyPatch, photos: Path
) -> None:
    from dataclasses import replace

    from streamlit.testing.v1 import AppTest

    from lookalike.training.metric import MetricConfig, train_metric

    with Collection.open(photos) as col:
        cfg = replace(MetricConfig(backbone="test-tiny", epochs=3), labels="none")
        train_metric(col, col.db / "models" / "head", cfg)
    monkeypatch.setenv(ROOTS_ENV, json.dumps([str(photos)]))
    at = AppTest.from_function(_train_script, default_timeout=120).run()
    assert not at.exception
    assert at.selectbox(key="metric-labels").options == ["folders", "none"]
    assert any("**head** · metric" in m.value for m in at.markdown)


def test_groups_page_regroups_on_measures_kept_by_the_first_grouping(
    monkeypatch: pytest.MonkeyPatch, indexed: Path
) -> None:
    """Moving the threshold groups again without measuring a pair it measured before."""
    import re

    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv(ROOTS_ENV, json.dumps([str(indexed)]))
    at = AppTest.from_function(_groups_script, default_timeout=120).run()
    at.slider(key="groups-threshold").set_value(0.6).run()

    def counts() -> tuple[int, int]:
        text = next(c.value for c in at.caption if "verified on the pixels" in c.value)
        found = re.search(r"([\d,]+) pairs measured, ([\d,]+) judged", text)
        assert found is not None
        return int(found[1].replace(",", "")), int(found[2].replace(",", ""))

    assert not at.exception
    measured, _ = counts()
    assert measured > 0
    at.slider(key="groups-threshold").set_value(0.65).run()
    assert not at.exception
    again, reused = counts()
    assert again == 0 and reused > 0
