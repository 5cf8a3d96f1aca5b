"""Robust ingest: every kind of bad file is refused with a reason; every mode decodes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imagegen import scene
from lookalike.errors import ImageDecodeError
from lookalike.imageio import read_image, to_rgb, walk_files


def _jpeg_bytes(im: Image.Image, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", **kw)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"hello, I am a text file\n" * 20, "not an image"),
        (b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8, "corrupt"),
    ],
)
def test_bad_files_give_a_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    p = tmp_path / "bad.jpg"
    p.write_bytes(content)
    with pytest.raises(ImageDecodeError) as exc:
        read_image(p, size=64)
    assert reason in exc.value.reason
    assert exc.value.path == str(p)


def test_truncated_jpeg(tmp_path: Path) -> None:
    data = _jpeg_bytes(scene("noise", 1), quality=95)
    p = tmp_path / "cut.jpg"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageDecodeError, match="truncated"):
        read_image(p, size=64)


def test_pixel_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    p = tmp_path / "big.png"
    Image.new("L", (300, 300)).save(p)
    with pytest.raises(ImageDecodeError, match="too many pixels"):
        read_image(p, size=64, max_pixels=10_000)


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "big.jpg"
    p.write_bytes(_jpeg_bytes(scene("noise", 2)))
    with pytest.raises(ImageDecodeError, match="too large"):
        read_image(p, size=64, max_bytes=100)


def test_content_not_extension_decides(tmp_path: Path) -> None:
    p = tmp_path / "photo.dat"
    p.write_bytes(_jpeg_bytes(scene("shapes", 1)))
    img = read_image(p, size=32)
    assert img.pixels.shape == (32, 32, 3)
    assert img.format == "JPEG"


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "BMP", "TIFF", "GIF", "JPEG"])
def test_formats_decode_to_rgb(tmp_path: Path, fmt: str) -> None:
    im = scene("shapes", 3)
    p = tmp_path / f"x.{fmt.lower()}"
    im.save(p, fmt)
    img = read_image(p, size=48)
    assert img.pixels.shape == (48, 48, 3) and img.pixels.dtype == np.uint8
    assert (img.width, img.height) == im.size


def test_heic(tmp_path: Path) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    if not pillow_heif.libheif_info().get("HEIF"):
        pytest.skip("this libheif build has no HEVC encoder to write a test file")
    p = tmp_path / "phone.heic"
    scene("shapes", 4).save(p, "HEIF")
    img = read_image(p, size=32)
    assert img.pixels.shape == (32, 32, 3)


def test_gif_takes_first_frame(tmp_path: Path) -> None:
    red, blue = Image.new("RGB", (40, 40), (255, 0, 0)), Image.new("RGB", (40, 40), (0, 0, 255))
    p = tmp_path / "anim.gif"
    red.save(p, save_all=True, append_images=[blue], duration=100)
    px = read_image(p, size=8).pixels
    assert px[..., 0].mean() > 200 and px[..., 2].mean() < 50


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    im = Image.new("RGB", (80, 40), (255, 255, 255))
    im.paste((0, 0, 0), (0, 0, 40, 40))  # left half black
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    p = tmp_path / "rot.jpg"
    im.save(p, exif=exif, quality=95)
    img = read_image(p, size=None)
    assert img.pixels.shape[:2] == (80, 40)  # now portrait
    assert img.pixels[:30].mean() < 60  # the black half is on top


def test_alpha_is_flattened_on_white() -> None:
    im = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    assert np.asarray(to_rgb(im)).min() == 255


@pytest.mark.parametrize("mode", ["P", "L", "CMYK", "LA", "1"])
def test_modes_become_rgb(mode: str) -> None:
    im = scene("shapes", 5).convert(mode)
    out = to_rgb(im)
    assert out.mode == "RGB" and out.size == im.size


def test_16_bit_grey_is_scaled_not_clipped(tmp_path: Path) -> None:
    arr = np.full((20, 20), 32768, dtype=np.uint16)
    p = tmp_path / "deep.png"
    Image.fromarray(arr).save(p)
    px = read_image(p, size=None).pixels
    assert 120 <= px.mean() <= 135  # mid grey, not white


def test_jpeg_draft_matches_full_decode(tmp_path: Path) -> None:
    big = scene("noise", 9).resize((1600, 1200), Image.Resampling.BICUBIC)
    p = tmp_path / "big.jpg"
    big.save(p, quality=92)
    fast = read_image(p, size=224).pixels.astype(float)
    full = np.asarray(big.resize((224, 224), Image.Resampling.BILINEAR), dtype=float)
    assert np.abs(fast - full).mean() < 3.0


def test_walk_skips_hidden_and_survives_symlink_loops(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.jpg").write_bytes(b"x")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "y.jpg").write_bytes(b"y")
    (tmp_path / "a" / "b" / "loop").symlink_to(tmp_path / "a", target_is_directory=True)
    (tmp_path / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    entries = {e.relpath: e for e in walk_files(tmp_path)}
    assert "a/b/x.jpg" in entries
    assert not any(".hidden" in p for p in entries)
    assert entries["dangling.jpg"].error == "broken symbolic link"
    assert len(entries) == 2
