"""``lookalike serve``: a REST API over the public ``Collection`` API, a thin adapter like
the CLI and the web UI."""
