"""The catalogue's SQLite schema, its migrations, and the typed rows it hands out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SCHEMA_VERSION = 3

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT,
    width INTEGER,
    height INTEGER,
    format TEXT,
    status TEXT NOT NULL CHECK (status IN ('ok', 'skipped')),
    error TEXT,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS files_sha256 ON files (sha256);
CREATE TABLE IF NOT EXISTS vector_sets (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    encoder TEXT NOT NULL,
    version TEXT NOT NULL,
    pooling TEXT,
    image_size INTEGER NOT NULL,
    dim INTEGER NOT NULL,
    options TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS embeddings (
    set_id INTEGER NOT NULL REFERENCES vector_sets (id) ON DELETE CASCADE,
    file_id INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    shard TEXT NOT NULL,
    row INTEGER NOT NULL,
    gen INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (set_id, file_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS embeddings_shard ON embeddings (set_id, shard);
CREATE TABLE IF NOT EXISTS decisions (
    a INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    b INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    verdict TEXT NOT NULL,
    decided_at REAL NOT NULL,
    PRIMARY KEY (a, b),
    CHECK (a < b)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS index_config (
    set_id INTEGER PRIMARY KEY REFERENCES vector_sets (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    options TEXT NOT NULL,
    stats TEXT NOT NULL DEFAULT '{}',
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pair_measures (
    a TEXT NOT NULL,
    b TEXT NOT NULL,
    framed INTEGER NOT NULL,
    version TEXT NOT NULL,
    signals TEXT NOT NULL,
    PRIMARY KEY (a, b, framed)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS picture_measures (
    sha256 TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    content REAL NOT NULL
) WITHOUT ROWID;
"""

#: Schema changes, applied in order to an older catalogue (version -> SQL).
MIGRATIONS = {
    2: "ALTER TABLE embeddings ADD COLUMN gen INTEGER NOT NULL DEFAULT 0",
    # 3: the pixel measures of earlier groupings (pair_measures, picture_measures), which
    # SCHEMA creates where missing
}

FILE_COLUMNS = "id, path, size, mtime_ns, sha256, width, height, format, status, error"


@dataclass(frozen=True)
class FileRow:
    """A file as the catalogue knows it."""

    id: int
    path: str
    size: int
    mtime_ns: int
    sha256: str | None
    width: int | None
    height: int | None
    format: str | None
    status: str
    error: str | None


@dataclass(frozen=True)
class VectorSetRow:
    """One vector space: an encoder at one version, pooling and input size."""

    id: int
    key: str
    encoder: str
    version: str
    pooling: str | None
    image_size: int
    dim: int
    options: dict[str, Any]
    updated_at: float
    count: int = 0


@dataclass(frozen=True)
class FileRecord:
    """What an index run learnt about one file: decoded fine, or skipped with a reason."""

    path: str
    size: int
    mtime_ns: int
    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    error: str | None = None
