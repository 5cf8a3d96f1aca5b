"""Image ingest: find the files of a collection and decode them robustly."""

from lookalike.imageio.decode import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    DecodedImage,
    decode_bytes,
    load_thumbnail,
    read_image,
    to_rgb,
)
from lookalike.imageio.discover import FileEntry, walk_files

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "DecodedImage",
    "FileEntry",
    "decode_bytes",
    "load_thumbnail",
    "read_image",
    "to_rgb",
    "walk_files",
]
