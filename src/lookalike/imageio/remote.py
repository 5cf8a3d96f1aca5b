"""Folders beyond the local disk: a collection named by an fsspec URL.

``s3://bucket/photos``, ``gs://...``, ``memory://...``, ``file:///...`` or any URL whose
filesystem the user has installed (s3fs, gcsfs, ...). The folder is a
:class:`upath.UPath`, so the rest of lookalike joins and names its files the way it does
a local :class:`~pathlib.Path`; listing and reading go through the URL's fsspec
filesystem: one listing call for the whole tree, one read per file.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from upath import UPath

from lookalike.errors import CollectionNotFoundError, ImageDecodeError, InvalidOptionError
from lookalike.imageio.entry import FileEntry

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
#: What a filesystem's listing may call a file's modification time, most precise first
#: (local: mtime; S3: LastModified; GCS: updated; Azure: last_modified; memory: created).
_TIME_KEYS = ("mtime", "LastModified", "last_modified", "updated", "modified", "created")


def is_url(text: object) -> bool:
    """Whether ``text`` names a folder by URL (``scheme://...``) rather than a local path."""
    return isinstance(text, str) and bool(_URL.match(text))


def is_remote(path: object) -> bool:
    """Whether ``path`` is read through fsspec (a URL folder or a file in one)."""
    return isinstance(path, UPath) and not isinstance(path, Path)


def location(text: str) -> Path | UPath:
    """A file or folder named on a command line: a URL as a :class:`UPath`, else a path."""
    return UPath(text) if is_url(text) else Path(text)


def open_folder(url: str) -> UPath:
    """The folder a URL names, checked to exist; a filesystem that is not installed gives
    one line naming the package to install (fsspec's own hint)."""
    try:
        folder = UPath(url)
        exists, is_dir = folder.exists(), folder.is_dir()
    except (ImportError, ValueError, OSError) as exc:
        raise CollectionNotFoundError(f"cannot open {url}: {exc}") from None
    if not exists:
        raise CollectionNotFoundError(f"folder not found: {url}")
    if not is_dir:
        raise CollectionNotFoundError(f"not a folder: {url}")
    return folder


def mtime_ns(info: dict[str, Any]) -> int:
    """A listing entry's modification time in nanoseconds (0 when the filesystem gives
    none: the file then counts as changed only when its size changes)."""
    for key in _TIME_KEYS:
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, dt.datetime):
            return int(value.timestamp() * 1e9)
        if isinstance(value, (int, float)):
            return int(float(value) * 1e9)
        if isinstance(value, str):
            try:
                return int(dt.datetime.fromisoformat(value).timestamp() * 1e9)
            except ValueError:
                continue
    return 0


def walk_remote(
    root: UPath, *, exclude: tuple[object, ...] = (), include_hidden: bool = False
) -> Iterator[FileEntry]:
    """Every file below ``root`` in sorted order, from one recursive listing. Hidden
    files and folders (a leading dot) are passed over unless asked for, as on a disk."""
    fs, base = root.fs, root.path.rstrip("/")
    skip = [str(p.path).rstrip("/") + "/" for p in exclude if is_remote(p)]
    try:
        found = fs.find(base, detail=True, withdirs=False)
    except OSError as exc:
        raise CollectionNotFoundError(f"cannot list {root}: {exc}") from None
    for name in sorted(found):
        info = found[name]
        full = str(info.get("name", name)).rstrip("/")
        if any(full.startswith(s) for s in skip):
            continue
        rel = posixpath.relpath(full, base) if base else full.lstrip("/")
        if not include_hidden and any(part.startswith(".") for part in rel.split("/")):
            continue
        yield FileEntry(rel, int(info.get("size") or 0), mtime_ns(info))


def file_stat(path: Path | UPath) -> tuple[int, int]:
    """(size, modification time in ns) of one file, as the folder's listing gives them
    (:func:`walk_remote` for a URL folder, ``os.stat`` for a local one)."""
    if is_remote(path):
        info = path.fs.info(path.path)
        return int(info.get("size") or 0), mtime_ns(info)
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def refuse_url(text: str, what: str) -> None:
    """One clear line for a URL given to a command (``what``) that takes local folders."""
    if is_url(text):
        raise InvalidOptionError(
            f"{text}: {what} takes folders on this machine; search a URL collection with "
            "lookalike search or the Python API"
        )


def read_remote(path: UPath, max_bytes: int) -> bytes:
    """A file's bytes in one read; a file over ``max_bytes`` is refused without reading
    the rest of it."""
    name = str(path)
    try:
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except IsADirectoryError:
        raise ImageDecodeError(name, "is a folder") from None
    except OSError as exc:
        raise ImageDecodeError(name, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise ImageDecodeError(name, f"file too large (> {max_bytes:,} bytes)")
    return data
