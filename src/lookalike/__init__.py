"""lookalike: find and group similar images, offline.

The public API: open a :class:`Collection`, ``index`` it, ``search`` it by example.
"""

from typing import TYPE_CHECKING, Any

# The public names load on first use (PEP 562), so that ``import lookalike`` and the CLI's
# ``--help`` do not pay for NumPy, SQLite, FAISS and the encoders before they need them.
_EXPORTS = {
    "Collection": "lookalike.collection",
    "Encoder": "lookalike.encoders",
    "create_encoder": "lookalike.encoders",
    "list_encoders": "lookalike.encoders",
    "register_encoder": "lookalike.encoders",
    "create_index": "lookalike.index",
    "list_indexes": "lookalike.index",
    "register_index": "lookalike.index",
    "CollectionInfo": "lookalike.results",
    "IndexReport": "lookalike.results",
    "Match": "lookalike.results",
    "Progress": "lookalike.results",
    "SearchResult": "lookalike.results",
    "Skipped": "lookalike.results",
    "VectorSetInfo": "lookalike.results",
    "VectorTable": "lookalike.results",
    "CollectionBusyError": "lookalike.errors",
    "CollectionNotFoundError": "lookalike.errors",
    "EncoderMismatchError": "lookalike.errors",
    "ImageDecodeError": "lookalike.errors",
    "LookalikeError": "lookalike.errors",
    "NoImagesError": "lookalike.errors",
    "NotIndexedError": "lookalike.errors",
    "UnknownEncoderError": "lookalike.errors",
    "UnknownIndexError": "lookalike.errors",
}

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lookalike' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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
