"""Pixel measures kept between groupings of one collection, so that a later grouping
verifies only the pairs it has not seen: each pair's signals (keyed by the two files'
content hashes, the order they were compared in and the framing) and each picture's share
of content, in the collection's catalogue. Signals, not verdicts, are kept: the rules
judge them afresh on every run, so new limits need no new measuring. A file whose size
or modification time differs from what the catalogue recorded at indexing (edited,
truncated, deleted) is measured again, which also reports it where it can no longer be
read."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from lookalike.collection import Collection
from lookalike.errors import StoreError
from lookalike.store import Catalog, FileRow

#: Bump whenever a change to ``grouping/verify.py`` alters any signal it measures, or
#: one to ``content_share`` (``grouping/verifier.py``) a picture's share of content: kept
#: measures of another version are never reused (and are pruned). 13: ``semantic``, what
#: the network sees in the most changed cell of a pair that passes every other limit,
#: read inside the ring of cells along the picture's edge.
SIGNALS_VERSION = 13


def measures_version() -> str:
    """The key kept measures are stored under: the package's and the signals' versions."""
    try:
        package = metadata.version("lookalike")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
        package = "source"
    return f"{package}/signals-{SIGNALS_VERSION}"


class KeptMeasures:
    """The kept measures of one collection for one grouping run: looks them up by key as
    the run asks (:meth:`prefetch`), hands them out by file id, and keeps the run's new
    ones (:meth:`flush`, safe to call often from one thread while others add). A
    catalogue that cannot be written costs the reuse on later runs, never this run
    (``error`` says why)."""

    def __init__(self, col: Collection, rows: dict[int, FileRow], *, reuse: bool = True) -> None:
        self._col = col
        self._rows = rows
        self._reuse = reuse
        self.version = measures_version()
        # looked up by key as a run asks (:meth:`prefetch`), never the whole table: a
        # collection of millions keeps millions of pairs
        self._pairs: dict[tuple[str, str, bool], str] = {}
        self._content: dict[str, float] = {}
        self._asked: set[tuple[str, str, bool]] = set()
        self._asked_pictures: set[str] = set()
        self._keys: dict[int, str | None] = {}
        self._new_pairs: list[tuple[str, str, bool, str]] = []
        self._new_pictures: list[tuple[str, float]] = []
        self._lock = threading.Lock()
        #: How many pairs' signals were handed out (reused) this run.
        self.reused = 0
        self.error: str | None = None

    def prefetch(self, pairs: Iterable[tuple[int, int, bool]]) -> None:
        """Look up the kept signals of these pairs (``a`` compared with ``b``, framed or
        not) in the catalogue, those not looked up yet, in a few queries."""
        keys = {k for a, b, f in pairs if (k := self._pair_key(a, b, f)) is not None}
        read = lambda cat, ks: cat.pair_measures(self.version, ks)  # noqa: E731
        self._look_up(keys, self._asked, self._pairs, read)

    def prefetch_pictures(self, ids: Iterable[int]) -> None:
        """Look up the kept content shares of these images, those not looked up yet."""
        keys = {k for i in ids if (k := self.key(i)) is not None}
        read = lambda cat, ks: cat.picture_measures(self.version, ks)  # noqa: E731
        self._look_up(keys, self._asked_pictures, self._content, read)

    def _look_up(
        self,
        keys: set[Any],
        asked: set[Any],
        into: dict[Any, Any],
        read: Callable[[Catalog, list[Any]], dict[Any, Any]],
    ) -> None:
        """Read the keys not asked for yet from the catalogue (``read(catalog, keys)``)."""
        todo = sorted(keys - asked)
        if not todo:
            return
        asked.update(todo)
        if self._reuse:
            with self._col.guard:
                into.update(read(self._col.catalog, todo))

    def key(self, i: int) -> str | None:
        """Image ``i``'s content hash while its file is still the one indexed (same size
        and modification time); ``None`` otherwise (measure it afresh)."""
        if i in self._keys:
            return self._keys[i]
        row = self._rows.get(i)
        found = None
        if row is not None and row.sha256:
            try:
                st = (self._col.root / Path(row.path)).stat()
            except OSError:
                st = None
            if st is not None and st.st_size == row.size and st.st_mtime_ns == row.mtime_ns:
                found = row.sha256
        self._keys[i] = found
        return found

    def _pair_key(self, a: int, b: int, framed: bool) -> tuple[str, str, bool] | None:
        ka, kb = self.key(a), self.key(b)
        return None if ka is None or kb is None else (ka, kb, framed)

    def has(self, a: int, b: int, framed: bool) -> bool:
        """Whether signals of ``a`` compared with ``b`` (in that order) are kept."""
        key = self._pair_key(a, b, framed)
        if key is not None and key not in self._asked:
            self.prefetch([(a, b, framed)])
        return key is not None and key in self._pairs

    def signals(self, a: int, b: int, framed: bool) -> str | None:
        """The kept signals of ``a`` compared with ``b`` (JSON text), if any."""
        key = self._pair_key(a, b, framed)
        text = None if key is None else self._pairs.get(key)
        if text is not None:
            with self._lock:
                self.reused += 1
        return text

    def content(self, i: int) -> float | None:
        """Image ``i``'s kept share of content, if any."""
        key = self.key(i)
        if key is not None and key not in self._asked_pictures:
            self.prefetch_pictures([i])
        return None if key is None else self._content.get(key)

    def add_pair(self, a: int, b: int, framed: bool, signals: str) -> None:
        """Keep the signals of ``a`` compared with ``b`` (at the next :meth:`flush`)."""
        key = self._pair_key(a, b, framed)
        if key is not None:
            with self._lock:
                self._pairs[key] = signals
                self._new_pairs.append((*key, signals))

    def add_picture(self, i: int, content: float) -> None:
        """Keep image ``i``'s share of content (at the next :meth:`flush`)."""
        key = self.key(i)
        if key is not None and self._content.get(key) != content:
            with self._lock:
                self._content[key] = content
                self._new_pictures.append((key, content))

    def flush(self) -> None:
        """Write the measures added since the last flush, in one transaction."""
        with self._lock:
            pairs, self._new_pairs = self._new_pairs, []
            pictures, self._new_pictures = self._new_pictures, []
        if self.error is not None or not (pairs or pictures):
            return
        try:
            with self._col.guard:
                self._col.catalog.keep_measures(self.version, pairs, pictures)
        except StoreError as exc:
            self.error = str(exc)

    def close(self) -> None:
        """Flush, then drop measures no current file or version can use."""
        self.flush()
        if self.error is not None:
            return
        try:
            with self._col.guard:
                self._col.catalog.prune_measures(self.version)
        except StoreError as exc:
            self.error = str(exc)
