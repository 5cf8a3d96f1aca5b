"""Entry point: builds the Typer app from the command modules and turns the library's
typed errors into one clear line and a non-zero exit (never a traceback)."""

from __future__ import annotations

import logging
import sys
import warnings

import typer
from rich.markup import escape

from lookalike.cli import (
    decide_cmd,
    demo_cmd,
    evaluate_clusters_cmd,
    evaluate_cmd,
    evaluate_groups_cmd,
    group_cmd,
    index_cmd,
    info_cmd,
    search_cmd,
    serve_cmd,
    train_cmd,
    ui_cmd,
)
from lookalike.cli.console import err
from lookalike.config import debug
from lookalike.errors import ImageDecodeError, LookalikeError

app = typer.Typer(
    name="lookalike",
    help="Find and group similar images: index a folder, then search it by example.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(show: bool) -> None:
    if show:
        from lookalike import __version__

        print(f"lookalike {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", callback=_version, is_eager=True
    ),
) -> None:
    """Find and group similar images: index a folder, then search it by example."""


for module in (
    index_cmd,
    search_cmd,
    group_cmd,
    decide_cmd,
    train_cmd,
    evaluate_cmd,
    evaluate_groups_cmd,
    evaluate_clusters_cmd,
    info_cmd,
    ui_cmd,
    serve_cmd,
    demo_cmd,
):
    module.register(app)


#: The exit status of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED = 130


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (2 for a user-facing error)."""
    if debug():
        logging.basicConfig(level=logging.DEBUG)
    else:
        # Libraries' own warnings (and pymilvus's logged tracebacks) stay out of the
        # terminal; what matters is said in lookalike's words. LOOKALIKE_DEBUG=1 shows all.
        warnings.filterwarnings("ignore")
        for name in ("pymilvus", "milvus_lite", "faiss", "onnxruntime", "streamlit"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        # outside standalone mode typer returns an exit status rather than raising it: a
        # command's typer.Exit(code), and 130 for Ctrl-C (its KeyboardInterrupt)
        status = app(args=argv, standalone_mode=False)
    except ImageDecodeError as exc:
        err.print(f"[red]error:[/] {escape(f'{exc.path}: {exc.reason}')}", highlight=False)
        return 2
    except LookalikeError as exc:
        # escaped: a hint such as pip install 'lookalike[milvus]' is text, not markup
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        return 2
    except KeyboardInterrupt:  # raised outside a command's run (typer's returns 130)
        status = INTERRUPTED
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        err.print("aborted")
        return 1
    except typer.TyperException as exc:  # usage errors: bad options, missing arguments
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        return int(getattr(exc, "exit_code", 2))
    if status == INTERRUPTED:
        err.print("interrupted; finished work is saved, run the same command to resume")
    return status if isinstance(status, int) and not isinstance(status, bool) else 0


def run() -> None:
    """Console-script wrapper."""
    sys.exit(main())
