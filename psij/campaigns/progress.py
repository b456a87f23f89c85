"""What a running campaign shows: live counts and a progress bar on a terminal, plain lines
elsewhere.

* `LiveProgress` (a terminal): one line rewritten in place (``\\r``) at most
  `LiveProgress.REDRAW_INTERVAL` apart,
  ``[##########----------] 37/50 done | running 10, pending 3, completed 35, failed 2 | 12 s``;
  notes are printed above it.
* `ChangeLines` (a pipe, a file): one line per change of a job's state, as it is seen,
  in the form of `record_text` (``0003 failed exit=3 (map line 6 exited with 3)``), and one
  ``psij campaign: ...`` line per note.
"""

import time
from typing import IO, Dict, Optional

from psij.campaigns.records import FINAL, STATES, SUBMITTING, JobRecord
from psij.campaigns.runner import Observer
from psij.terminal_line import RewrittenLine

BAR_WIDTH = 20


def record_text(record: JobRecord) -> str:
    """``0003 running native=1207``, ``0003 failed exit=3 (map line 6 exited with 3)``."""
    text = f'{record.id} {record.state}'
    if record.native_id is not None and not record.final:
        text += f' native={record.native_id}'
    if record.exit_code is not None:
        text += f' exit={record.exit_code}'
    if record.message:
        text += f' ({record.message})'
    return text


def counts_text(counts: Dict[str, int]) -> str:
    """``running 10, pending 3, completed 35`` (states with no job left out)."""
    return ', '.join(f'{state} {counts[state]}' for state in STATES if counts.get(state))


class ChangeLines(Observer):
    """One line per change of a job's state, one line per note."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._shown: Dict[str, str] = {}

    def changed(self, record: JobRecord) -> None:
        """Print the job's line if its state changed (not for ``submitting``, which lasts
        as long as the submit call: the next line, ``pending``, comes right after)."""
        if record.state == SUBMITTING or self._shown.get(record.id) == record.state:
            return
        self._shown[record.id] = record.state
        self.stream.write(record_text(record) + '\n')
        self.stream.flush()

    def note(self, text: str) -> None:
        """Print ``psij campaign: TEXT``."""
        self.stream.write(f'psij campaign: {text}\n')
        self.stream.flush()


class LiveProgress(Observer):
    """Counts and a progress bar on one line of a terminal."""

    REDRAW_INTERVAL = 0.2

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.started = time.monotonic()
        self._counts: Optional[Dict[str, int]] = None
        self._line = RewrittenLine(stream)

    def counts(self, counts: Dict[str, int]) -> None:
        """Redraw, unless the last redraw was very recent."""
        self._counts = dict(counts)
        if time.monotonic() - self._line.drawn_at >= self.REDRAW_INTERVAL:
            self._draw()

    def note(self, text: str) -> None:
        """Print the note on a line of its own, then the counts again below it."""
        self._line.clear()
        self.stream.write(f'psij campaign: {text}\n')
        self._draw()

    def finish(self) -> None:
        """Show the last counts and end the line."""
        self._draw()
        self._line.end()

    def _draw(self) -> None:
        if self._counts is None:
            return
        total = sum(self._counts.values())
        done = sum(self._counts[state] for state in FINAL)
        filled = BAR_WIDTH * done // total if total else BAR_WIDTH
        elapsed = time.monotonic() - self.started
        self._line.show(f'[{"#" * filled}{"-" * (BAR_WIDTH - filled)}] {done}/{total} done | '
                        f'{counts_text(self._counts)} | {elapsed:.0f} s')
