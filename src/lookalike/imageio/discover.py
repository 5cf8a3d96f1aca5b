"""Walk a collection folder: every regular file, recursively, without symlink loops."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from lookalike.imageio.entry import FileEntry
from lookalike.imageio.remote import is_remote, walk_remote


def walk_files(
    root: Path, *, exclude: tuple[Path, ...] = (), include_hidden: bool = False
) -> Iterator[FileEntry]:
    """Yield every file below ``root`` in a stable (sorted) order.

    ``root`` may also be a URL folder (:mod:`lookalike.imageio.remote`). Symlinked
    folders are followed once: a folder already visited (same device and inode)
    is not entered again, so link loops end. Hidden files and folders (a leading dot:
    ``.lookalike``, ``.DS_Store``, ``._IMG.jpg``) are passed over unless asked for. Whether a
    file holds an image is decided later, by its content, not here.
    """
    if is_remote(root):  # a URL folder: one listing through its fsspec filesystem
        yield from walk_remote(root, exclude=exclude, include_hidden=include_hidden)
        return
    root = Path(root)
    excluded = {os.path.realpath(p) for p in exclude if isinstance(p, Path)}
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            st = folder.stat()
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen or os.path.realpath(folder) in excluded:
            continue
        seen.add(key)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        subdirs: list[Path] = []
        for entry in entries:
            if not include_hidden and entry.name.startswith("."):
                continue
            rel = os.path.relpath(entry.path, root)
            try:
                if entry.is_dir(follow_symlinks=True):
                    subdirs.append(Path(entry.path))
                    continue
                if not entry.is_file(follow_symlinks=True):
                    if entry.is_symlink():
                        yield FileEntry(rel, 0, 0, "broken symbolic link")
                    continue
                fst = entry.stat(follow_symlinks=True)
            except OSError as exc:
                yield FileEntry(rel, 0, 0, f"cannot read: {exc.strerror or exc}")
                continue
            yield FileEntry(rel, fst.st_size, fst.st_mtime_ns)
        # Reverse so that the stack pops sub-folders in sorted order.
        stack.extend(reversed(subdirs))


def rel_path(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` in the catalogue's spelling (as it is if outside):
    how every report names an image of a collection."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
