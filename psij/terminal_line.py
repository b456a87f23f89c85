"""One line of a terminal rewritten in place, for live counts (``psij wait``, ``psij campaign``).

The line is rewritten with ``\\r`` and blanks over the end of a longer previous text, so no
terminal escape sequence is needed.
"""

import math
import time
from typing import IO


class RewrittenLine:
    """The last line of ``stream``, shown and rewritten in place."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        #: What the line shows now ('' before the first text and after `clear` or `end`).
        self.text = ''
        #: When the line was last rewritten (`time.monotonic`).
        self.drawn_at = -math.inf

    def show(self, text: str) -> None:
        """Show ``text`` instead of the line's current text (nothing is written if equal)."""
        if text == self.text:
            return
        padding = ' ' * max(len(self.text) - len(text), 0)
        self.stream.write('\r' + text + padding)
        self.stream.flush()
        self.text = text
        self.drawn_at = time.monotonic()

    def clear(self) -> None:
        """Blank the line and put the cursor at its start (to print something else there)."""
        if self.text:
            self.stream.write('\r' + ' ' * len(self.text) + '\r')
            self.text = ''

    def end(self) -> None:
        """End the line: what it shows stays, and later output goes below it."""
        if self.text:
            self.stream.write('\n')
            self.stream.flush()
            self.text = ''
