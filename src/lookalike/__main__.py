"""``python -m lookalike``: the command line."""

from lookalike.cli.main import run

run()
