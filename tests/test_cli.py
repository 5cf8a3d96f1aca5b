"""The CLI through its entry point: commands, outputs and clean one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from imagegen import SCENES
from lookalike.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_index_search_info(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "index", photos, "--model", "test-tiny", "-q")
    assert code == 0 and "Indexed 24 images" in out

    kind, seed = SCENES[0]
    q = photos / f"{kind}-{seed}.jpg"
    grid, page = tmp_path / "grid.png", tmp_path / "page.html"
    code, out, _ = run(
        capsys, "search", q, "--in", photos, "-k", "3", "--json", "--grid", grid, "--html", page
    )
    assert code == 0
    data = json.loads(out[: out.rindex("}") + 1])
    assert data["encoder"] == "test-tiny" and data["metric"] == "cosine"
    assert [r["rank"] for r in data["results"]] == [1, 2, 3]
    assert Path(data["results"][0]["path"]).name.startswith(f"{kind}-{seed}-")
    with Image.open(grid) as im:
        assert im.width > 3 * 150 and im.height > 150
    assert page.read_text().count("<img") == 4  # query + 3 results

    code, out, _ = run(capsys, "search", q, "--in", photos, "--metric", "euclidean")
    assert code == 0 and "euclidean" in out and "lower is closer" in out

    code, out, _ = run(capsys, "info", photos)
    assert code == 0 and "24 images" in out and "test-tiny" in out

    code, out, _ = run(capsys, "info", photos, "--json")
    assert json.loads(out)["vector_sets"][0]["count"] == 24


def test_index_reports_skipped(photos: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    code, out, _ = run(capsys, "index", photos, "--model", "test-tiny", "-q")
    assert code == 0 and "1 skipped" in out and "broken.jpg" in out
    code, out, _ = run(capsys, "info", photos)
    assert "broken.jpg" in out and "corrupt" in out


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("missing-folder", "folder not found"),
        ("no-images", "no images could be read"),
        ("not-indexed", "not indexed yet"),
        ("query-not-image", "not an image"),
        ("query-missing", "cannot read"),
        ("unknown-model", "unknown encoder"),
    ],
)
def test_errors_are_one_clear_line(
    case: str, needle: str, photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    only_text = tmp_path / "docs"
    only_text.mkdir()
    (only_text / "a.txt").write_text("x")
    args = {
        "missing-folder": ["index", tmp_path / "nope"],
        "no-images": ["index", only_text, "--model", "test-tiny", "-q"],
        "not-indexed": ["search", photos / "shapes-1.jpg", "--in", photos],
        "query-not-image": ["search", text, "--in", photos],
        "query-missing": ["search", tmp_path / "gone.jpg", "--in", photos],
        "unknown-model": ["index", photos, "--model", "nope", "-q"],
    }[case]
    if case.startswith("query"):
        assert run(capsys, "index", photos, "--model", "test-tiny", "-q")[0] == 0
    code, out, err = run(capsys, *args)
    assert code == 2
    assert needle in err
    assert "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1


def test_encoders_lists_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "encoders")
    assert code == 0 and "efficientnet-lite0 (default)" in out


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "index" in out and "search" in out


def test_installed_console_script(tmp_path: Path) -> None:
    """The real ``lookalike`` executable: a user error is one line and exit status 2."""
    import shutil
    import subprocess
    import sys

    exe = shutil.which("lookalike") or str(Path(sys.executable).parent / "lookalike")
    if not Path(exe).exists():
        pytest.skip("lookalike is not installed as a console script")
    proc = subprocess.run(
        [exe, "search", str(tmp_path / "q.jpg"), "--in", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: folder not found: {tmp_path / 'nowhere'}"
    assert proc.stdout == ""


def test_the_cli_starts_without_heavy_libraries() -> None:
    """``--help`` and plain searches must not pay for libraries they do not use."""
    import subprocess
    import sys

    heavy = ("torch", "scipy", "sklearn", "matplotlib", "streamlit", "cv2", "networkx")
    code = (
        "import sys, lookalike, lookalike.cli.main; "
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
