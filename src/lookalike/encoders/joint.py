"""Several encoders fed by one pass over the images: each file is read and decoded
once, and encoders that share a network (poolings of one CNN) share its forward pass.
An evaluation grid of several poolings then costs one embedding pass per network."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from lookalike.encoders.base import Encoder, Vectors
from lookalike.errors import InvalidOptionError


class JointEncoder(Encoder):
    """The members' vectors side by side in one array; :meth:`split` takes them apart."""

    def __init__(self, members: Sequence[Encoder]) -> None:
        if not members:
            raise InvalidOptionError("a joint pass needs at least one encoder")
        first = members[0]
        if any(m.preprocess != first.preprocess for m in members):
            raise InvalidOptionError(
                "encoders of one pass need the same input size and normalisation"
            )
        self.members = list(members)
        self.name = "+".join(m.name for m in members)
        self.pooling = None
        self.preprocess = first.preprocess
        self.dim = sum(m.dim for m in members)
        self.version = "+".join(m.version for m in members)
        self.options = {}
        self._pass = first.joint_pass(self.members)

    @property
    def shared(self) -> bool:
        """True when the members share one forward pass (not only the decoding)."""
        return self._pass is not None

    def encode_batch(self, batch: NDArray[np.float32]) -> Vectors:
        if self._pass is not None:
            parts = self._pass(batch)
        else:
            parts = [m.encode_batch(batch) for m in self.members]
        return np.concatenate([np.asarray(p, dtype=np.float32) for p in parts], axis=1)

    def split(self, vectors: NDArray[np.float32]) -> list[NDArray[np.float32]]:
        """One array per member, in order."""
        bounds = np.cumsum([m.dim for m in self.members])[:-1]
        return [np.ascontiguousarray(v) for v in np.split(vectors, bounds, axis=1)]
