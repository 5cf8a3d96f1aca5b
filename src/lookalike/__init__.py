"""lookalike: find and group similar images, offline.

The public API: open a :class:`Collection`, ``index`` it, ``search`` it by example.
"""

from lookalike.collection import Collection
from lookalike.encoders import Encoder, create_encoder, list_encoders, register_encoder
from lookalike.errors import (
    CollectionBusyError,
    CollectionNotFoundError,
    EncoderMismatchError,
    ImageDecodeError,
    LookalikeError,
    NoImagesError,
    NotIndexedError,
    UnknownEncoderError,
    UnknownIndexError,
)
from lookalike.index import create_index, list_indexes, register_index
from lookalike.results import (
    CollectionInfo,
    IndexReport,
    Match,
    Progress,
    SearchResult,
    Skipped,
    VectorSetInfo,
    VectorTable,
)

__version__ = "0.1.0"

__all__ = [
    "Collection",
    "CollectionBusyError",
    "CollectionInfo",
    "CollectionNotFoundError",
    "Encoder",
    "EncoderMismatchError",
    "ImageDecodeError",
    "IndexReport",
    "LookalikeError",
    "Match",
    "NoImagesError",
    "NotIndexedError",
    "Progress",
    "SearchResult",
    "Skipped",
    "UnknownEncoderError",
    "UnknownIndexError",
    "VectorSetInfo",
    "VectorTable",
    "__version__",
    "create_encoder",
    "create_index",
    "list_encoders",
    "list_indexes",
    "register_encoder",
    "register_index",
]
