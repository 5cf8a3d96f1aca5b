"""``lookalike serve DIR [DIR ...]``: the REST API (FastAPI on uvicorn)."""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from lookalike.cli.console import err
from lookalike.errors import CollectionNotFoundError, InvalidOptionError, require_module
from lookalike.imageio.remote import refuse_url

#: The bearer token comes from here, never from the command line or a file.
TOKEN_ENV = "LOOKALIKE_TOKEN"


def parse_collections(items: list[str]) -> dict[str, Path]:
    """``DIR`` or ``NAME=DIR`` -> {name: folder}; a folder is named by its folder name."""
    found: dict[str, Path] = {}
    for item in items:
        name, sep, folder = item.partition("=")
        refuse_url(folder if sep else name, "serve")
        path = Path(folder if sep else name).expanduser().resolve()
        name = name if sep else path.name
        if not path.is_dir():
            raise CollectionNotFoundError(f"not a folder: {path}")
        if name in found:
            raise InvalidOptionError(f"two collections named {name!r}: use NAME=DIR")
        found[name] = path
    return found


def loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command("serve")
    def serve(
        folders: Annotated[list[str], typer.Argument(help="Collections: DIR or NAME=DIR.")],
        host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port.")] = 8600,
        read_only: Annotated[
            bool, typer.Option(help="Refuse uploads, deletions and index runs.")
        ] = False,
        max_upload_mb: Annotated[float, typer.Option(help="Largest upload, MB.")] = 20.0,
    ) -> None:
        """Serve collections over HTTP: search, similar, upload, index, groups, thumbnails.

        The bearer token comes from the environment variable LOOKALIKE_TOKEN. On any
        address but loopback the server refuses to start without it (or --read-only).
        """
        require_module("fastapi", "lookalike serve needs FastAPI and uvicorn", "serve")
        require_module("uvicorn", "lookalike serve needs FastAPI and uvicorn", "serve")
        token = os.environ.get(TOKEN_ENV) or None
        if not loopback(host) and token is None and not read_only:
            raise InvalidOptionError(
                f"serving on {host} needs a token ({TOKEN_ENV}) or --read-only"
            )
        import uvicorn

        from lookalike.api.app import Settings, create_app

        settings = Settings(parse_collections(folders), token, read_only, max_upload_mb)
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        names = ", ".join(f"{n} ({p})" for n, p in settings.collections.items())
        mode = "read-only" if read_only else ("token required" if token else "no token: reads only")
        err.print(f"lookalike API on http://{host}:{port} ({mode}) for {names}", highlight=False)
        uvicorn.run(
            create_app(settings),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=10,
        )
