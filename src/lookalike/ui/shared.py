"""What every page shares: the collections (cached for all sessions), thumbnails (cached),
the collection picker, and turning an upload into a query file."""

from __future__ import annotations

import hashlib
import io
import tempfile
from pathlib import Path

import streamlit as st

from lookalike.collection import Collection
from lookalike.errors import ImageDecodeError, LookalikeError
from lookalike.imageio import decode_bytes, load_thumbnail
from lookalike.ui.safety import resolve_allowed, roots, upload_limit


@st.cache_resource(show_spinner=False)
def collection(root: str) -> Collection:
    """One shared Collection per folder: its encoders and loaded indexes are reused by every
    session (Collection serialises calls, so sharing is safe)."""
    return Collection.open(root)


@st.cache_data(show_spinner=False, max_entries=4096)
def thumbnail(path: str, mtime_ns: int, size: int = 256) -> bytes:
    """A JPEG thumbnail; the file's mtime is part of the key, so edits show."""
    buf = io.BytesIO()
    load_thumbnail(path, size).save(buf, "JPEG", quality=85)
    return buf.getvalue()


def thumb(path: Path | str, size: int = 256) -> bytes:
    """The cached thumbnail of a file."""
    p = Path(path)
    try:
        mtime = p.stat().st_mtime_ns
    except OSError:
        mtime = 0
    return thumbnail(str(p), mtime, size)


def pick_collection(key: str) -> Collection | None:
    """A select box of the allowed folders; the chosen one's Collection."""
    options = [str(r) for r in roots()]
    if not options:
        st.error("Start the UI with one or more folders: lookalike ui DIR")
        return None
    choice = st.selectbox("Collection", options, key=key)
    try:
        return collection(str(resolve_allowed(choice)))
    except LookalikeError as exc:
        st.error(str(exc))
        return None


def save_upload(data: bytes, name: str) -> Path:
    """Check an upload (size, real image) and keep it in this session's own temp folder."""
    if len(data) > upload_limit():
        raise LookalikeError(
            f"{name} is {len(data) / 2**20:.1f} MiB; the limit is {upload_limit() / 2**20:.0f} MiB"
        )
    try:
        decode_bytes(data, size=32, name=name)
    except ImageDecodeError as exc:
        raise LookalikeError(f"{name}: {exc.reason}") from None
    folder = st.session_state.get("_upload_dir")
    if folder is None or not Path(folder).is_dir():
        folder = tempfile.mkdtemp(prefix="lookalike-ui-")
        st.session_state["_upload_dir"] = folder
    digest = hashlib.sha256(data).hexdigest()[:16]
    path = Path(folder) / f"{digest}{Path(name).suffix.lower() or '.img'}"
    path.write_bytes(data)
    return path
