"""The ``lookalike`` command line: thin commands over the library."""
