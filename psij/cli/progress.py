"""What ``psij wait`` shows while it waits.

On a terminal, one line of counts per state, rewritten in place (``\\r``) at most
`LiveCounts.REDRAW_INTERVAL` apart; elsewhere (a pipe, a file), one plain line per change of
a job's state, which a script can read as it comes (``12345 COMPLETED exit=0``).
"""

import sys
import time
from typing import IO, Dict, Optional

from psij.cli.output import print_line, status_text
from psij.job_state import JobState
from psij.job_status import JobStatus
from psij.terminal_line import RewrittenLine

#: The order in which counts are shown; UNKNOWN counts ids the executor does not know.
UNKNOWN = 'UNKNOWN'
COUNT_ORDER = [state.value for state in JobState] + [UNKNOWN]


def counts_text(counts: Dict[str, int]) -> str:
    """``10 jobs: QUEUED 2, ACTIVE 3, COMPLETED 5`` (states with no job left out)."""
    total = sum(counts.values())
    shown = ', '.join(f'{name} {counts[name]}' for name in COUNT_ORDER if counts.get(name))
    return f'{total} job{"" if total == 1 else "s"}: {shown}'


class WaitDisplay:
    """Shows nothing; the base of the displays below."""

    def changed(self, native_id: str, status: JobStatus) -> None:
        """A job is now in ``status`` (called once per observed change)."""

    def counts(self, counts: Dict[str, int]) -> None:
        """The number of jobs per state (called after every batch of changes, and about
        every `LiveCounts.REDRAW_INTERVAL` while nothing changes)."""

    def finish(self) -> None:
        """The wait is over; nothing more will be shown."""


class ChangeLines(WaitDisplay):
    """One line per change: ``<id> <STATE> [exit=<code>] [(<message>)]``."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def changed(self, native_id: str, status: JobStatus) -> None:
        """Print the job's new state."""
        print_line(status_text(native_id, status), self.stream)


class LiveCounts(WaitDisplay):
    """One line of counts per state, rewritten in place on a terminal."""

    REDRAW_INTERVAL = 0.1

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.started = time.monotonic()
        self._line = RewrittenLine(stream)
        self._pending: Optional[Dict[str, int]] = None

    def counts(self, counts: Dict[str, int]) -> None:
        """Redraw, unless the last redraw was very recent (then the next call shows it)."""
        self._pending = dict(counts)
        if time.monotonic() - self._line.drawn_at >= self.REDRAW_INTERVAL:
            self._draw()

    def _draw(self, label: str = 'waiting') -> None:
        if self._pending is None:
            return
        elapsed = time.monotonic() - self.started
        self._line.show(f'{label}: {counts_text(self._pending)} ({elapsed:.0f} s)')

    def finish(self) -> None:
        """Show the last counts and end the line."""
        self._draw('done')
        self._line.end()


def choose_display(json_output: bool) -> WaitDisplay:
    """Live counts on the terminal that shows progress (stdout, or stderr with ``--json``,
    whose stdout is the JSON document); otherwise change lines on stdout, or nothing with
    ``--json``."""
    if json_output:
        return LiveCounts(sys.stderr) if sys.stderr.isatty() else WaitDisplay()
    if sys.stdout.isatty():
        return LiveCounts(sys.stdout)
    return ChangeLines(sys.stdout)
