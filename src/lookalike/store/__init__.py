"""The embedded store: a SQLite catalogue plus ``.npy`` vector shards, all in one folder."""

from lookalike.store.atomic import save_npy_atomic, write_atomic, write_bytes_atomic
from lookalike.store.catalog import Catalog, FileRecord, FileRow, VectorSetRow
from lookalike.store.lock import writer_lock
from lookalike.store.vectors import VectorStore

__all__ = [
    "Catalog",
    "FileRecord",
    "FileRow",
    "VectorSetRow",
    "VectorStore",
    "save_npy_atomic",
    "write_atomic",
    "write_bytes_atomic",
    "writer_lock",
]
