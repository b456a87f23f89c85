"""``python -m psij.cli``: the same as the ``psij`` command."""

import sys

from psij.cli.app import main

sys.exit(main())
