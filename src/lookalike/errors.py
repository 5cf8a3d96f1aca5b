"""Typed errors raised by the core. Adapters (CLI, UI) turn them into one clear line."""

from __future__ import annotations


class LookalikeError(Exception):
    """Base of every error the library raises on purpose."""


class CollectionNotFoundError(LookalikeError):
    """The folder to index or search does not exist or is not a folder."""


class NoImagesError(LookalikeError):
    """A folder holds no file that could be read as an image."""


class NotIndexedError(LookalikeError):
    """A collection has no vectors yet (or none for the asked encoder)."""


class ImageDecodeError(LookalikeError):
    """A file could not be read as an image; ``reason`` is short and user-facing."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class InvalidOptionError(LookalikeError, ValueError):
    """An option has a value the library does not accept (a metric, k, a backend setting)."""


class UnknownEncoderError(LookalikeError):
    """No encoder is registered under the asked name."""


class UnsupportedPoolingError(LookalikeError, ValueError):
    """An encoder was asked for a pooling (embedding method) it does not offer."""


class UnknownIndexError(LookalikeError):
    """No index backend is registered under the asked name."""


class EncoderMismatchError(LookalikeError):
    """Stored vectors were made by another version of an encoder than the one at hand."""


class CollectionBusyError(LookalikeError):
    """Another process is writing to the same collection."""


class StoreError(LookalikeError):
    """A collection's database cannot be used as it is (e.g. written by a newer lookalike)."""


class EncoderOutputError(LookalikeError):
    """An encoder returned vectors of the wrong shape (a broken plugin or model file)."""


class MissingExtraError(LookalikeError):
    """An optional part is not installed; the message names the extra to install."""


def needs_extra(what: str, extra: str) -> MissingExtraError:
    """The one-line error for a missing optional part: what needs it, and the exact
    ``pip install 'lookalike[extra]'`` to run."""
    return MissingExtraError(f"{what}: pip install 'lookalike[{extra}]'")


def require_module(module: str, what: str, extra: str) -> None:
    """Raise :func:`needs_extra` unless ``module`` can be imported (checked without
    importing it, so a heavy module costs nothing here)."""
    import sys
    from importlib.util import find_spec

    if module in sys.modules:
        if sys.modules[module] is None:  # imports of it are blocked
            raise needs_extra(what, extra)
        return
    if find_spec(module) is None:
        raise needs_extra(what, extra)
