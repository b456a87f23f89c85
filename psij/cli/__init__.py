"""The ``psij`` command-line tool (work in progress)."""

import sys


def main() -> int:
    """Entry point of the ``psij`` console script."""
    print('psij: the command-line tool is not built yet', file=sys.stderr)
    return 2
