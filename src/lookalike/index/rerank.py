"""Training-free re-ranking at search time: alpha query expansion.

The query is replaced by itself plus its nearest neighbours, each weighted by its cosine
similarity to the query to the power ``alpha``, and searched again: images that resemble
both the query and its closest match move up. Chosen by measurement on the tuning sets
(docs/results.md) among 1 to 8 neighbours and alpha 1 or 3: with more than one
neighbour, logos drawn in several styles lost up to 0.07 recall@7 (the second and third
neighbours are often another coin in the same style); one neighbour with alpha 3 never
lost and gained up to 0.019 P@8.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

#: Neighbours added to the query.
RERANK_NEIGHBOURS = 1
#: Their weight: cosine similarity to the query to this power.
RERANK_ALPHA = 3.0


def _unit(x: NDArray[np.float32]) -> NDArray[np.float32]:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def expand_queries(
    queries: NDArray[np.float32],
    neighbours: NDArray[np.float32],
    alpha: float = RERANK_ALPHA,
) -> NDArray[np.float32]:
    """(b, d) queries and (b, n, d) of their nearest neighbours -> (b, d) expanded
    queries, in the space of the queries (unit length when they are)."""
    q = np.asarray(queries, np.float32)
    nb = np.asarray(neighbours, np.float32)
    weights = np.clip(np.einsum("bd,bnd->bn", _unit(q), _unit(nb)), 0.0, None) ** alpha
    out = q + np.einsum("bn,bnd->bd", weights, nb)
    norms = np.linalg.norm(q, axis=1, keepdims=True)
    return (_unit(out) * norms).astype(np.float32)
