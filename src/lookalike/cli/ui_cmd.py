"""``lookalike ui DIR ...``: the web platform, bound to localhost by default."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from lookalike.cli.console import err
from lookalike.config import UI_DEFAULT_UPLOAD_MB as DEFAULT_UPLOAD_MB
from lookalike.config import UI_ROOTS_ENV as ROOTS_ENV
from lookalike.config import UI_UPLOAD_LIMIT_ENV as UPLOAD_LIMIT_ENV
from lookalike.errors import CollectionNotFoundError, require_module


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command("ui")
    def ui(
        names: Annotated[list[str], typer.Argument(help="Folders the UI may open.")],
        port: Annotated[int, typer.Option(help="Port.")] = 8501,
        host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
        max_upload_mb: Annotated[int, typer.Option(help="Largest upload, MB.")] = (
            DEFAULT_UPLOAD_MB
        ),
    ) -> None:
        """Start the web UI (Streamlit) on the given folders."""
        require_module("streamlit", "the web UI needs Streamlit", "ui")
        from lookalike.imageio.remote import refuse_url

        for name in names:
            refuse_url(name, "the UI")
        folders = [Path(name).expanduser() for name in names]
        for f in folders:
            if not f.is_dir():
                raise CollectionNotFoundError(f"not a folder: {f}")
        env = dict(os.environ)
        env[ROOTS_ENV] = json.dumps([str(f.resolve()) for f in folders])
        env[UPLOAD_LIMIT_ENV] = str(max_upload_mb)
        script = Path(__file__).resolve().parent.parent / "ui" / "app.py"
        cmd = [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(script),
            "--server.port",
            str(port),
            "--server.address",
            host,
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--server.maxUploadSize",
            str(max_upload_mb),
            "--server.fileWatcherType",
            "none",
            "--client.toolbarMode",
            "minimal",
        ]
        err.print(
            f"lookalike UI on http://{host}:{port} for {', '.join(map(str, folders))}",
            highlight=False,
        )
        raise typer.Exit(subprocess.call(cmd, env=env))
