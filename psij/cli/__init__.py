"""The ``psij`` command-line tool: run, submit and follow jobs from a shell.

`main` is the entry point of the ``psij`` console script (and of ``python -m psij.cli``).
See docs/cli.md for the subcommands, options, JSON keys and exit statuses.
"""

from psij.cli.app import main

__all__ = ['main']
