"""The verifier of a grouping run: it fingerprints each image once, judges each candidate
pair once (on kept measures where an earlier run measured it, else on the pixels, in
parallel), and keeps what it measured for later runs. What a pair's signals are and how
rules judge them is :mod:`~lookalike.grouping.verify`."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import reverse_cuthill_mckee

from lookalike.config import default_workers
from lookalike.errors import ImageDecodeError
from lookalike.grouping import measure_pool
from lookalike.grouping.measures import KeptMeasures
from lookalike.grouping.verify import (
    NO_MATCH,
    Fingerprint,
    PairSignals,
    Rules,
    Verdict,
    compare,
    fingerprint,
    judge_pair,
    measure_semantic,
    signals_text,
    trim_box,
    wants_semantic,
)

log = logging.getLogger("lookalike.verify")

#: Pairs with their cosines; verdicts filled in by position; a progress step.
Scored = list[tuple[tuple[int, int], float]]
Verdicts = list[Verdict | None]
Moved = Callable[[int], None]

#: Verdicts between two writes of the measures kept for later runs.
FLUSH_EVERY = 4096
#: Most fingerprints held at once (about 150 KB each, and as much again in the file the
#: worker processes map): a run with more pictures to measure measures them in parts,
#: so its memory stays bounded however large the collection (the photo library of
#: ``benchmarks/verify_cost.py``, 9,442 pictures to measure: peak 3.2 GB in one part,
#: 2.8 GB in parts of 8,000 and 1.3 GB in parts of 3,000, within 2% of the time, with
#: the same groups).
MAX_PRINTS = 8_000


class Verifier:
    """Fingerprints images once and judges each pair once with the rules (a verifier
    shared by several groupings of one collection reuses both); unreadable images are
    reported (``failed``) and never called duplicates. With ``kept``, signals measured
    by earlier runs are judged again rather than measured again, and new ones are kept.
    ``order`` breaks ties in which picture of a pair is measured first (:meth:`first`);
    ``progress(made, to_make)`` hears of the fingerprints as they are made (a part of a
    large run takes seconds: :data:`MAX_PRINTS`)."""

    def __init__(
        self,
        rules: Rules,
        path_of: Callable[[int], Path],
        *,
        workers: int | None = None,
        kept: KeptMeasures | None = None,
        order: Callable[[int], Any] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.rules = rules
        self.path_of = path_of
        #: Of two pictures with as many pixels, the one with the smaller key is measured
        #: first (default: its path; :func:`~lookalike.grouping.duplicates.content_order`
        #: keeps verdicts apart from names).
        self.order = order or (lambda i: str(path_of(i)))
        self.workers = default_workers() if workers is None else workers
        self.kept = kept
        self.prints: dict[int, Fingerprint | None] = {}
        self.failed: dict[int, str] = {}
        self._verdicts: dict[tuple[int, int], Verdict] = {}
        #: Pairs to compare in the same framing only (proposed by pixel signatures).
        self.framed: set[tuple[int, int]] = set()
        #: Pairs measured on the pixels (the others were judged on kept signals).
        self.measured = 0
        #: Shares of content of the images whose fingerprints were released.
        self._shares: dict[int, float] = {}
        self._progress = progress
        self._made = 0  # fingerprints made, for progress
        self._count = threading.Lock()  # judge runs in several threads

    def prepare(self, ids: Iterable[int]) -> None:
        """Fingerprint these images (in parallel threads; decoding releases the GIL)."""
        todo = sorted({int(i) for i in ids} - set(self.prints))

        def one(i: int) -> tuple[int, Fingerprint | None, str | None]:
            try:
                return i, fingerprint(self.path_of(i)), None
            except ImageDecodeError as exc:
                return i, None, exc.reason

        if not todo:
            return
        start = self._made
        results: list[tuple[int, Fingerprint | None, str | None]] = []
        if self.workers > 1 and len(todo) > 8:
            with ThreadPoolExecutor(self.workers, thread_name_prefix="lookalike-verify") as ex:
                for result in ex.map(one, todo):
                    results.append(result)
                    self._made_one(start + len(todo))
        else:
            for i in todo:
                results.append(one(i))
                self._made_one(start + len(todo))
        if self.kept is not None:  # a share kept already is not written again
            self.kept.prefetch_pictures(i for i, fp, _ in results if fp is not None)
        for i, fp, reason in results:
            self.prints[i] = fp
            if reason is not None:
                self.failed[i] = reason
            elif fp is not None and self.kept is not None:
                self.kept.add_picture(i, content_share(fp))

    def _made_one(self, to_make: int) -> None:
        self._made += 1
        if self._progress is not None and (self._made % 256 == 0 or self._made == to_make):
            self._progress(self._made, to_make)

    def content(self, ids: Iterable[int]) -> dict[int, float]:
        """These images' shares of picture content (solid borders trimmed), from their
        fingerprints or kept measures (an image with neither is left out)."""
        ids = list(ids)
        if self.kept is not None:
            self.kept.prefetch_pictures(i for i in ids if self.prints.get(i) is None)
        out: dict[int, float] = {}
        for i in ids:
            fp = self.prints.get(i)
            share = content_share(fp) if fp is not None else self._shares.get(i)
            if share is None and self.kept is not None:
                share = self.kept.content(i)
            if share is not None:
                out[i] = share
        return out

    def judge_many(
        self,
        pairs: list[tuple[tuple[int, int], float]],
        progress: Callable[[int, int], None] | None = None,
    ) -> list[Verdict]:
        """Verdicts on many pairs, in order, ``progress(done, total)`` as they finish. The
        pairs to measure are measured in parallel: in worker processes where there are
        many (:mod:`~lookalike.grouping.measure_pool`), else in threads (OpenCV and NumPy
        release the GIL for part of the work). Their images are fingerprinted here, at
        most :data:`MAX_PRINTS` at a time (:meth:`_batches`)."""

        # pairs judged before or on kept measures cost microseconds: no thread for them
        out: list[Verdict | None] = [None] * len(pairs)
        todo = self._unjudged(pairs)
        measuring = set(todo)
        for k, item in enumerate(pairs):
            if k not in measuring:
                out[k] = self._judge_scored(item)
        done = len(pairs) - len(todo)

        def moved(n: int) -> None:
            if n % 512 == 0:
                if progress:
                    progress(done + n, len(pairs))
                if self.kept is not None and n % FLUSH_EVERY == 0:
                    self.kept.flush()  # an interrupted run keeps what it measured

        batches = self._batches(pairs, todo)
        try:
            for part, batch in enumerate(batches):
                images = {i for k in batch for i in pairs[k][0]}
                self.prepare(images)
                self._measure(pairs, batch, out, moved)
                done += len(batch)
                if part + 1 < len(batches):  # hold the next part's fingerprints only
                    self.release(images - {i for k in batches[part + 1] for i in pairs[k][0]})
        finally:  # an interrupted run keeps every pair it measured (Ctrl-C included)
            if self.kept is not None:
                self.kept.flush()
        if progress:
            progress(len(pairs), len(pairs))
        return [v for v in out if v is not None]

    def _measure(self, pairs: Scored, todo: list[int], out: Verdicts, moved: Moved) -> None:
        """Measure the pairs at positions ``todo`` (their images prepared), each verdict
        into ``out``: in worker processes where there are many, else in threads."""
        if self.workers > 1 and len(todo) >= measure_pool.MIN_PAIRS:
            try:
                self._measure_in_processes(pairs, todo, out, moved)
            except (OSError, BrokenProcessPool) as exc:  # no processes here: threads
                log.warning("measuring pairs in threads: worker processes failed (%s)", exc)
            todo = [k for k in todo if out[k] is None]
        if self.workers <= 1 or len(todo) < 64:
            for k in todo:
                out[k] = self._judge_scored(pairs[k])
            return
        with ThreadPoolExecutor(self.workers, thread_name_prefix="lookalike-verify") as ex:
            judged = ex.map(self._judge_scored, [pairs[k] for k in todo])
            for n, (k, v) in enumerate(zip(todo, judged, strict=True)):
                out[k] = v
                moved(n)

    def _judge_scored(self, item: tuple[tuple[int, int], float]) -> Verdict:
        (a, b), cosine = item
        return self.judge(a, b, cosine)

    def _batches(self, pairs: Scored, todo: list[int]) -> list[list[int]]:
        """The positions ``todo`` in parts whose pairs need at most :data:`MAX_PRINTS`
        fingerprints each (one part where they all fit): ordered so that pairs sharing
        pictures fall in one part (reverse Cuthill-McKee on the pairs' graph, which keeps
        linked pictures close), so that few pictures are fingerprinted twice."""
        ids = sorted({i for k in todo for i in pairs[k][0]})
        if len(ids) <= MAX_PRINTS:
            return [todo] if todo else []
        where = {i: n for n, i in enumerate(ids)}
        a = np.array([where[pairs[k][0][0]] for k in todo])
        b = np.array([where[pairs[k][0][1]] for k in todo])
        graph = csr_matrix((np.ones(len(todo), np.int8), (a, b)), shape=(len(ids), len(ids)))
        rank = np.empty(len(ids), np.int64)
        rank[reverse_cuthill_mckee(graph, symmetric_mode=False)] = np.arange(len(ids))
        order = np.lexsort((np.minimum(rank[a], rank[b]), np.maximum(rank[a], rank[b])))
        batches: list[list[int]] = []
        batch: list[int] = []
        held: set[int] = set()
        for t in order.tolist():
            k = todo[t]
            new = {i for i in pairs[k][0] if i not in held}
            if batch and len(held) + len(new) > MAX_PRINTS:
                batches.append(batch)
                batch, held = [], set()
                new = set(pairs[k][0])
            batch.append(k)
            held |= new
        return [*batches, batch] if batch else batches

    def release(self, ids: Iterable[int]) -> None:
        """Drop these images' fingerprints (:meth:`prepare` makes them again), keeping
        their shares of content; unreadable images stay marked as such."""
        for i in ids:
            fp = self.prints.get(i)
            if fp is not None:
                self._shares[i] = content_share(fp)
                del self.prints[i]

    def _measure_in_processes(
        self, pairs: Scored, todo: list[int], out: Verdicts, moved: Moved
    ) -> None:
        """Measure the pairs at positions ``todo`` in worker processes (a pair with an
        unreadable picture is judged here, unmeasured), each verdict into ``out``."""
        ready: list[int] = []
        tasks = []
        for k in todo:
            (a, b), cosine = pairs[k]
            if self.prints.get(a) is None or self.prints.get(b) is None:
                out[k] = self.judge(a, b, cosine)
                continue
            first, second = (b, a) if self.first(a, b) == b else (a, b)
            tasks.append((first, second, cosine, self._is_framed(a, b)))
            ready.append(k)
        measured = measure_pool.measure_in_processes(self.prints, tasks, self.workers)
        for n, (k, signals) in enumerate(zip(ready, measured, strict=True)):
            (a, b), _ = pairs[k]
            out[k] = self._record(a, b, tasks[n][3], signals)
            moved(n + 1)

    def _unjudged(self, pairs: list[tuple[tuple[int, int], float]]) -> list[int]:
        """Positions of the pairs that need measuring on the pixels."""
        if self.kept is not None:
            self.kept.prefetch(
                (a, b, self._is_framed(a, b)) for (a, b), _ in pairs if (a, b) not in self._verdicts
            )
        return [
            k
            for k, ((a, b), _) in enumerate(pairs)
            if (a, b) not in self._verdicts
            and not (self.kept is not None and self.kept.has(a, b, self._is_framed(a, b)))
        ]

    def first(self, a: int, b: int) -> int:
        """Which of two prepared pictures a pair is measured from: the one with fewer
        pixels (the other is brought down to it, never blown up), of two as large the
        one first in :attr:`order` (the grouping puts the larger file first). So a
        verdict never depends on the order of the ids, which indexing hands out as
        decoding finishes. On the calibration half of the near-duplicate set, measured
        from the smaller picture and of two as large from the larger file, it groups
        with F1 0.9925; from the smaller file of two as large 0.9914, from the larger
        picture 0.9904, and in the ids' order or their reverse 0.9912 and 0.9917."""
        fa, fb = self.prints[a], self.prints[b]
        assert fa is not None and fb is not None
        ka = (fa.width * fa.height, self.order(a))
        kb = (fb.width * fb.height, self.order(b))
        return b if kb < ka else a

    def _is_framed(self, a: int, b: int) -> bool:
        return (a, b) in self.framed or (b, a) in self.framed

    def judge(self, a: int, b: int, cosine: float) -> Verdict:
        """The verdict on one pair, made once: on kept signals where there are some,
        else measured (both images must have been prepared)."""
        known = self._verdicts.get((a, b))
        if known is not None:
            return known
        framed = self._is_framed(a, b)
        text = self.kept.signals(a, b, framed) if self.kept is not None else None
        if text is not None:
            verdict = judge_pair(self.rules, PairSignals(cosine, **json.loads(text)))
            self._verdicts[(a, b)] = verdict
            return verdict
        fa, fb = self.prints.get(a), self.prints.get(b)
        if fa is None or fb is None:
            bad = a if fa is None else b
            signals = PairSignals(cosine, *NO_MATCH[:4], 0, 0.0, "none", False)
            why = self.failed.get(bad, "not prepared")
            return Verdict(False, signals, f"not verified: {self.path_of(bad)}: {why}")
        if self.first(a, b) == b:
            fa, fb = fb, fa
        return self._record(a, b, framed, compare(fa, fb, cosine, framed=framed))

    def _record(self, a: int, b: int, framed: bool, measured: PairSignals) -> Verdict:
        """Judge a pair just measured, keep its signals for later runs and its verdict.
        A pair the rules would admit although one spot stands out is first asked what
        the network sees there (:func:`~lookalike.grouping.verify.wants_semantic`)."""
        with self._count:
            self.measured += 1
        if wants_semantic(self.rules, measured):
            fa, fb = self.prints.get(a), self.prints.get(b)
            if fa is not None and fb is not None:
                if self.first(a, b) == b:
                    fa, fb = fb, fa
                measured = measure_semantic(fa, fb, measured)
        if self.kept is not None:
            self.kept.add_pair(a, b, framed, signals_text(measured))
        verdict = judge_pair(self.rules, measured)
        self._verdicts[(a, b)] = verdict
        return verdict


#: How many solid borders, one inside the other, the share of content trims at most
#: (it stops where nothing more trims).
BORDER_LAYERS = 8
#: How far (px of the thumbnail) inside a trimmed border the next one is looked for.
RING = 2


def content_share(fp: Fingerprint) -> float:
    """A fingerprint's share of picture content: solid borders trimmed, and those inside
    them until nothing more trims (letterbox bars around a drawing on a plain ground: the
    bars, then the ground, looked for :data:`RING` px past the bars' edge, where a JPEG
    rings), so a letterboxed copy has no more content than its original."""
    top, left, h, w = fp.box
    trimmed = fp.trimmed
    for _ in range(BORDER_LAYERS - 1):
        # inside a trimmed border, lossy coding rings for a pixel or two along its edge
        # (black bars against a light ground): the next border is looked for past that,
        # and a side where none is found keeps its edge
        r = RING if trimmed and min(h, w) > 2 * RING + 8 else 0
        it, il, ih, iw = trim_box(fp.pixels[top + r : top + h - r, left + r : left + w - r])
        if (it, il, ih, iw) == (0, 0, h - 2 * r, w - 2 * r):
            break
        bottom = top + h if it + ih == h - 2 * r else top + r + it + ih
        right = left + w if il + iw == w - 2 * r else left + r + il + iw
        top = top if it == 0 else top + r + it
        left = left if il == 0 else left + r + il
        h, w = bottom - top, right - left
        trimmed = True
    return (h * w) / (fp.pixels.shape[0] * fp.pixels.shape[1])
