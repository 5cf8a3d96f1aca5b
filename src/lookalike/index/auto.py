"""Which index kind a collection gets by default, by its size and this machine's memory.

Thresholds come from ``benchmarks/search.py`` on a 2-core machine: an exact flat scan
answers one query over N x D float32 vectors at about memory bandwidth, ~11 ms per 64M
floats (256 MB); past that an HNSW graph answers in well under a millisecond at recall
above 0.95 while the vectors fit in memory; beyond memory, IVF-PQ keeps ~1/30 of it.
"""

from __future__ import annotations

import os

#: Exact search up to this many stored floats (n * dim): 50k x 1280 or 250k x 256.
EXACT_MAX_FLOATS = 64_000_000
#: HNSW while its vectors plus graph take at most this share of physical memory.
HNSW_MAX_MEMORY_SHARE = 0.5


def physical_memory() -> int:
    """Bytes of RAM on this machine (a large default where it cannot be read)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 16 << 30


def choose_kind(n: int, dim: int, *, memory: int | None = None) -> str:
    """``exact``, ``hnsw`` or ``ivfpq`` for ``n`` vectors of ``dim``."""
    if n * dim <= EXACT_MAX_FLOATS:
        return "exact"
    hnsw_bytes = n * (dim * 4 + 32 * 2 * 4 * 1.2)  # vectors + links at M=32
    if hnsw_bytes <= HNSW_MAX_MEMORY_SHARE * (memory or physical_memory()):
        return "hnsw"
    return "ivfpq"
