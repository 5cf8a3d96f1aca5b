"""A Milvus standalone server on this machine, for tests, benchmarks and trying the
server path before a real deployment: the ``milvus`` package (version 2.3.5, the last
with Linux wheels) runs one, with its data in a folder of the caller's choosing.

Only one runs per machine (its embedded etcd binds a fixed port). It leaves a server-id
file in ``/tmp/milvus`` and a pid file in ``/run/milvus``; :func:`milvus_standalone`
removes the ones it made.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from lookalike.errors import LookalikeError, require_module

#: Where the server package leaves files outside its base folder.
_LEFTOVERS = (Path("/tmp/milvus"), Path("/run/milvus"))


def _listing() -> set[Path]:
    return {p for d in _LEFTOVERS if d.is_dir() for p in d.iterdir()}


@contextlib.contextmanager
def milvus_standalone(base_dir: str | Path) -> Iterator[str]:
    """Start a Milvus server with its data in ``base_dir``; yield its ``http://`` URI;
    stop it and remove what it left outside ``base_dir``."""
    require_module("milvus", "a local Milvus server needs the milvus package", "milvus-server")
    from milvus import default_server

    before = _listing()
    Path(base_dir).mkdir(parents=True, exist_ok=True)
    default_server.set_base_dir(str(base_dir))
    try:
        default_server.start()
    except Exception as exc:  # the package raises bare exceptions with the server's log
        raise LookalikeError(f"the Milvus server did not start: {exc}") from None
    try:
        yield f"http://127.0.0.1:{default_server.listen_port}"
    finally:
        default_server.stop()
        for p in _listing() - before:
            p.unlink(missing_ok=True)
