"""``python -m psij.conformance``."""

import sys

from .cli import main

sys.exit(main())
