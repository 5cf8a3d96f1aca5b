"""The SQLite catalogue of a collection: files, their state, and which vectors exist.

Every change happens in a transaction, so a run killed at any moment leaves a catalogue
that describes exactly the vectors that were durably written before it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from lookalike.errors import StoreError
from lookalike.store.schema import (
    FILE_COLUMNS,
    MIGRATIONS,
    SCHEMA,
    SCHEMA_VERSION,
    FileRecord,
    FileRow,
    VectorSetRow,
)


class Catalog:
    """Thin typed access to the catalogue database."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One Catalog may be used from several threads (the web UI shares a collection
        # between browser sessions); Collection serialises the calls with its own lock.
        self._db = sqlite3.connect(
            str(self.path), timeout=30.0, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        self._writes = 0  # our own commits: PRAGMA data_version counts only others'
        self._cache: dict[str, Any] = {}
        self._cache_version: tuple[int, int] | None = None
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        elif int(row[0]) > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer lookalike (schema {row[0]}); upgrade lookalike"
            )
        elif int(row[0]) < SCHEMA_VERSION:
            self._migrate(int(row[0]))

    def _migrate(self, found: int) -> None:
        """Bring an older catalogue up to this schema, one version at a time."""
        with self._transaction() as db:
            for version in range(found + 1, SCHEMA_VERSION + 1):
                if version in MIGRATIONS:
                    db.execute(MIGRATIONS[version])
            db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (or interruption)."""
        self._db.execute("BEGIN IMMEDIATE")
        self._writes += 1
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        self._writes += 1  # reads cached inside the transaction are stale now

    # -- files ---------------------------------------------------------------------------
    def files(self) -> dict[str, FileRow]:
        """Every file of the catalogue by relative path."""
        cur = self._db.execute(f"SELECT {FILE_COLUMNS} FROM files")
        return {r[1]: FileRow(*r) for r in cur}

    def file(self, path: str) -> FileRow | None:
        """One file by relative path."""
        r = self._db.execute(
            f"SELECT {FILE_COLUMNS} FROM files WHERE path=?",
            (path,),
        ).fetchone()
        return FileRow(*r) if r else None

    def files_by_id(self, ids: Sequence[int]) -> dict[int, FileRow]:
        """File rows for the given ids."""
        found: dict[int, FileRow] = {}
        for chunk in _chunks(list(ids), 900):
            marks = ",".join("?" * len(chunk))
            cur = self._db.execute(f"SELECT {FILE_COLUMNS} FROM files WHERE id IN ({marks})", chunk)
            found.update((r[0], FileRow(*r)) for r in cur)
        return found

    def file_paths(self, ids: Sequence[int]) -> list[str]:
        """Relative paths for file ids, in the given order."""
        found: dict[int, str] = {}
        for chunk in _chunks(list(ids), 900):
            marks = ",".join("?" * len(chunk))
            found.update(
                self._db.execute(f"SELECT id, path FROM files WHERE id IN ({marks})", chunk)
            )
        return [found[i] for i in ids]

    def skipped(self) -> list[tuple[str, str]]:
        """(path, reason) of every file that could not be read."""
        cur = self._db.execute("SELECT path, error FROM files WHERE status='skipped' ORDER BY path")
        return [(p, e or "") for p, e in cur]

    def counts(self) -> dict[str, int]:
        """Number of files by status."""
        cur = self._db.execute("SELECT status, COUNT(*) FROM files GROUP BY status")
        return {s: n for s, n in cur}

    def measures_kept(self, version: str | None = None) -> int:
        """How many pairs' pixel measures are kept for later groupings: those measured by
        this ``version`` of the verifier (the only ones a grouping reuses), or all."""
        if version is None:
            return int(self._db.execute("SELECT COUNT(*) FROM pair_measures").fetchone()[0])
        cur = self._db.execute("SELECT COUNT(*) FROM pair_measures WHERE version=?", (version,))
        return int(cur.fetchone()[0])

    def forget(self, deleted: Iterable[int], changed: Iterable[int]) -> None:
        """Drop deleted files, and the vectors of changed ones, in one transaction."""
        deleted, changed = list(deleted), list(changed)
        if not deleted and not changed:
            return
        with self._transaction() as db:
            for chunk in _chunks(deleted, 900):
                db.execute(f"DELETE FROM files WHERE id IN ({','.join('?' * len(chunk))})", chunk)
            for chunk in _chunks(changed, 900):
                db.execute(
                    f"DELETE FROM embeddings WHERE file_id IN ({','.join('?' * len(chunk))})", chunk
                )

    def record(
        self,
        records: Sequence[FileRecord],
        *,
        set_id: int | None = None,
        shard: str | None = None,
    ) -> None:
        """Upsert files; when ``shard`` is given, record ok files' vectors at rows 0..n-1
        of that shard (in the order of the ok records). One transaction."""
        now = time.time()
        with self._transaction() as db:
            row = 0
            gen = 0
            if set_id is not None:
                gen = db.execute(
                    "SELECT COALESCE(MAX(gen), 0) + 1 FROM embeddings WHERE set_id=?", (set_id,)
                ).fetchone()[0]
            for r in records:
                status = "skipped" if r.error else "ok"
                file_id = db.execute(
                    "INSERT INTO files (path, size, mtime_ns, sha256, width, height, format, "
                    "status, error, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (path) DO UPDATE SET size=excluded.size, "
                    "mtime_ns=excluded.mtime_ns, sha256=excluded.sha256, width=excluded.width, "
                    "height=excluded.height, format=excluded.format, status=excluded.status, "
                    "error=excluded.error, updated_at=excluded.updated_at RETURNING id",
                    (
                        r.path,
                        r.size,
                        r.mtime_ns,
                        r.sha256,
                        r.width,
                        r.height,
                        r.format,
                        status,
                        r.error,
                        now,
                    ),
                ).fetchone()[0]
                if status == "ok" and shard is not None:
                    db.execute(
                        "INSERT OR REPLACE INTO embeddings (set_id, file_id, shard, row, gen) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (set_id, file_id, shard, row, gen),
                    )
                    row += 1
            if set_id is not None:
                db.execute("UPDATE vector_sets SET updated_at=? WHERE id=?", (now, set_id))

    # -- vector sets ---------------------------------------------------------------------
    def ensure_set(
        self,
        *,
        key: str,
        encoder: str,
        version: str,
        pooling: str | None,
        image_size: int,
        dim: int,
        options: dict[str, Any],
    ) -> VectorSetRow:
        """The vector set for this encoder identity, created when new."""
        now = time.time()
        self._writes += 1
        self._db.execute(
            "INSERT INTO vector_sets (key, encoder, version, pooling, image_size, dim, options, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (key) DO NOTHING",
            (
                key,
                encoder,
                version,
                pooling,
                image_size,
                dim,
                json.dumps(options, sort_keys=True),
                now,
                now,
            ),
        )
        return next(s for s in self.vector_sets() if s.key == key)

    def vector_sets(self) -> list[VectorSetRow]:
        """Every vector set, most recently updated first, with its vector count.

        Cached until the database changes (ours or another process's commit), so a search
        pays for no count over the whole embeddings table.
        """
        return self._cached("sets", self._load_vector_sets)

    def _version(self) -> tuple[int, int]:
        """Changes whenever the database does: another connection's commit or ours."""
        return (self._db.execute("PRAGMA data_version").fetchone()[0], self._writes)

    def _cached(self, key: str, load: Any) -> Any:
        """Small, hot reads (the set list, index choices) kept until the database changes."""
        version = self._version()
        if self._cache_version != version:
            self._cache, self._cache_version = {}, version
        if key not in self._cache:
            self._cache[key] = load()
        return self._cache[key]

    def _load_vector_sets(self) -> list[VectorSetRow]:
        cur = self._db.execute(
            "SELECT s.id, s.key, s.encoder, s.version, s.pooling, s.image_size, s.dim, s.options, "
            "s.updated_at, (SELECT COUNT(*) FROM embeddings e WHERE e.set_id = s.id) "
            "FROM vector_sets s ORDER BY s.updated_at DESC, s.id DESC"
        )
        return [
            VectorSetRow(i, k, e, v, p, s, d, json.loads(o), u, n)
            for i, k, e, v, p, s, d, o, u, n in cur
        ]

    def default_set_key(self) -> str | None:
        """The key of the set the user last indexed (``set_default_set``), if any."""
        row = self._db.execute("SELECT value FROM meta WHERE key='default_set'").fetchone()
        return str(row[0]) if row else None

    def set_default_set(self, key: str) -> None:
        """Record the set that plain ``search``, ``group`` and ``info`` use."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('default_set', ?) "
                "ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                (key,),
            )

    def touch(self, set_id: int) -> None:
        """Mark a vector set as the most recently used."""
        with self._transaction() as db:
            db.execute("UPDATE vector_sets SET updated_at=? WHERE id=?", (time.time(), set_id))

    def embedded_file_ids(self, set_id: int) -> set[int]:
        """Ids of the files that have a vector in this set."""
        cur = self._db.execute("SELECT file_id FROM embeddings WHERE set_id=?", (set_id,))
        return {r[0] for r in cur}

    def locations(self, set_id: int) -> list[tuple[int, str, int]]:
        """(file_id, shard, row) of every vector of a set, ordered by file id."""
        cur = self._db.execute(
            "SELECT file_id, shard, row FROM embeddings WHERE set_id=? ORDER BY file_id", (set_id,)
        )
        return list(cur)

    def generations(self, set_id: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(file ids, write generations) of a set's vectors: a vector written after an
        index was saved has a higher generation than the index recorded."""
        rows = self._db.execute(
            "SELECT file_id, gen FROM embeddings WHERE set_id=? ORDER BY file_id", (set_id,)
        ).fetchall()
        arr = np.asarray(rows, dtype=np.int64).reshape(-1, 2)
        return arr[:, 0].copy(), arr[:, 1].copy()

    def index_config(self, set_id: int) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
        """(kind, options, stats) chosen for a set's search index, if any."""

        def load() -> tuple[str, dict[str, Any], dict[str, Any]] | None:
            r = self._db.execute(
                "SELECT kind, options, stats FROM index_config WHERE set_id=?", (set_id,)
            ).fetchone()
            return (r[0], json.loads(r[1]), json.loads(r[2])) if r else None

        return self._cached(f"index_config-{set_id}", load)

    def index_config_key(self, set_id: int) -> str:
        """A short text that changes when the set's index kind or options do."""

        def load() -> str:
            cfg = self.index_config(set_id)
            return json.dumps(cfg[:2] if cfg else None, sort_keys=True)

        return self._cached(f"index_config_key-{set_id}", load)

    def set_index_config(
        self, set_id: int, kind: str, options: dict[str, Any], stats: dict[str, Any]
    ) -> None:
        """Record the index kind, options and measured stats (memory, recall) of a set."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO index_config (set_id, kind, options, stats, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (set_id) DO UPDATE SET kind=excluded.kind, "
                "options=excluded.options, stats=excluded.stats, updated_at=excluded.updated_at",
                (set_id, kind, json.dumps(options, sort_keys=True), json.dumps(stats), time.time()),
            )

    def decide(self, pairs: Iterable[tuple[int, int]], verdict: str) -> int:
        """Record a user's verdict (``not-duplicates``) on file pairs; returns how many."""
        rows = [(min(a, b), max(a, b), verdict, time.time()) for a, b in pairs if a != b]
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO decisions (a, b, verdict, decided_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (a, b) DO UPDATE SET verdict=excluded.verdict, "
                "decided_at=excluded.decided_at",
                rows,
            )
        return len(rows)

    def decided(self, verdict: str) -> set[tuple[int, int]]:
        """Pairs (smaller id first) with this verdict."""
        cur = self._db.execute("SELECT a, b FROM decisions WHERE verdict=?", (verdict,))
        return {(a, b) for a, b in cur}

    def stored(self, set_id: int, path: str) -> tuple[int, int, int, str, int] | None:
        """(file id, size, mtime_ns, shard, row) of an ok file's vector in a set, by
        relative path, in one query: what a search by a collection's own image needs."""
        r = self._db.execute(
            "SELECT f.id, f.size, f.mtime_ns, e.shard, e.row FROM files f "
            "JOIN embeddings e ON e.file_id = f.id AND e.set_id = ? "
            "WHERE f.path = ? AND f.status = 'ok'",
            (set_id, path),
        ).fetchone()
        return (r[0], r[1], r[2], r[3], r[4]) if r else None

    def location(self, set_id: int, file_id: int) -> tuple[str, int] | None:
        """(shard, row) of one file's vector in a set."""
        r = self._db.execute(
            "SELECT shard, row FROM embeddings WHERE set_id=? AND file_id=?", (set_id, file_id)
        ).fetchone()
        return (r[0], r[1]) if r else None

    def set_paths(self, set_id: int) -> tuple[NDArray[np.int64], list[str]]:
        """(sorted file ids, relative paths) of every vector of a set."""
        rows = self._db.execute(
            "SELECT f.id, f.path FROM embeddings e JOIN files f ON f.id = e.file_id "
            "WHERE e.set_id=? ORDER BY f.id",
            (set_id,),
        ).fetchall()
        return np.fromiter((r[0] for r in rows), np.int64, len(rows)), [r[1] for r in rows]

    def shards(self, set_id: int) -> set[str]:
        """Shard files that the set's rows point into."""
        cur = self._db.execute("SELECT DISTINCT shard FROM embeddings WHERE set_id=?", (set_id,))
        return {r[0] for r in cur}

    def repoint(self, set_id: int, file_ids: Sequence[int], shard: str) -> None:
        """After compaction: the vectors of ``file_ids`` are rows 0..n-1 of ``shard``."""
        with self._transaction() as db:
            db.executemany(
                "UPDATE embeddings SET shard=?, row=? WHERE set_id=? AND file_id=?",
                ((shard, i, set_id, f) for i, f in enumerate(file_ids)),
            )

    # -- pixel measures kept between groupings ---------------------------------------------
    def pair_measures(
        self, version: str, keys: Sequence[tuple[str, str, bool]] | None = None
    ) -> dict[tuple[str, str, bool], str]:
        """Pair signals measured by this ``version`` of the verifier, as JSON text, keyed
        by the two pictures' content hashes (in the order compared) and the framing: of
        ``keys`` only, or all. Up to :data:`MEASURES_CHUNK` keys are looked up by the
        primary key in one query; more in one pass over the table (a lookup each costs
        more than reading the rows in order)."""
        wanted = None if keys is None else list(keys)
        if wanted is not None and len(wanted) <= MEASURES_CHUNK:
            values = ",".join("(?, ?, ?)" for _ in wanted)
            cur = self._db.execute(
                "SELECT a, b, framed, signals FROM pair_measures "
                f"WHERE (a, b, framed) IN (VALUES {values}) AND version=?",
                [v for a, b, f in wanted for v in (a, b, int(f))] + [version],
            )
            return {(a, b, bool(f)): s for a, b, f, s in cur}
        asked = None if wanted is None else set(wanted)
        cur = self._db.execute(
            "SELECT a, b, framed, signals FROM pair_measures WHERE version=?", (version,)
        )
        out: dict[tuple[str, str, bool], str] = {}
        for a, b, f, s in cur:
            key = (a, b, bool(f))
            if asked is None or key in asked:
                out[key] = s
        return out

    def picture_measures(
        self, version: str, hashes: Sequence[str] | None = None
    ) -> dict[str, float]:
        """Each measured picture's share of content (solid borders trimmed), by hash: of
        ``hashes`` only, or of all."""
        if hashes is None:
            cur = self._db.execute(
                "SELECT sha256, content FROM picture_measures WHERE version=?", (version,)
            )
            return dict(cur.fetchall())
        out: dict[str, float] = {}
        for chunk in _chunks(list(hashes), 3 * MEASURES_CHUNK):
            cur = self._db.execute(
                "SELECT sha256, content FROM picture_measures "
                f"WHERE sha256 IN ({','.join('?' * len(chunk))}) AND version=?",
                [*chunk, version],
            )
            out.update(dict(cur.fetchall()))
        return out

    def keep_measures(
        self,
        version: str,
        pairs: Sequence[tuple[str, str, bool, str]],
        pictures: Sequence[tuple[str, float]],
    ) -> None:
        """Add measures of this ``version`` (replacing any of the same key) in one
        transaction; :class:`StoreError` if the catalogue cannot be written."""
        if not pairs and not pictures:
            return
        try:
            with self._transaction() as db:
                db.executemany(
                    "INSERT OR REPLACE INTO pair_measures (a, b, framed, version, signals) "
                    "VALUES (?, ?, ?, ?, ?)",
                    ((a, b, int(f), version, s) for a, b, f, s in pairs),
                )
                db.executemany(
                    "INSERT OR REPLACE INTO picture_measures (sha256, version, content) "
                    "VALUES (?, ?, ?)",
                    ((h, version, c) for h, c in pictures),
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot keep pixel measures in {self.path}: {exc}") from exc

    def prune_measures(self, version: str) -> int:
        """Drop measures of other versions and of pictures no file holds any more;
        returns how many pair measures went."""
        hashes = "SELECT sha256 FROM files WHERE sha256 IS NOT NULL"
        try:
            with self._transaction() as db:
                gone = db.execute(
                    f"DELETE FROM pair_measures WHERE version<>? OR a NOT IN ({hashes}) "
                    f"OR b NOT IN ({hashes})",
                    (version,),
                ).rowcount
                db.execute(
                    f"DELETE FROM picture_measures WHERE version<>? OR sha256 NOT IN ({hashes})",
                    (version,),
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot prune pixel measures in {self.path}: {exc}") from exc
        return int(gone)


T = TypeVar("T")

#: Pair keys looked up by primary key in one query (three parameters each; SQLite
#: allows 32,766); more are read in one pass over the table.
MEASURES_CHUNK = 3000


def _chunks(items: list[T], n: int) -> Iterable[list[T]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]
