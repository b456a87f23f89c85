"""A scheduler command a tracker has started and that has not answered yet, and how often the
tracker looks at it (`psij.batch.tracker`)."""

from dataclasses import dataclass
from typing import List

from psij.batch.evidence import TrackedJob
from psij.transport import RunningCommand

#: How long the poller thread waits for a scheduler command it has just started; a command
#: that takes longer is looked at again every `MIN_LOOK_INTERVAL`, doubling up to
#: `MAX_LOOK_INTERVAL`, while markers (and other trackers) go on. A cancel command is looked
#: at every `MIN_LOOK_INTERVAL`: somebody waits for its jobs to end, and a look (a ``waitpid``
#: that does not block) costs nothing next to its many ids.
QUICK_COMMAND_WAIT = 0.5
MIN_LOOK_INTERVAL = 0.05
MAX_LOOK_INTERVAL = 0.5


@dataclass(eq=False)
class CommandInFlight:
    """A status or accounting command that has been started and has not answered yet."""

    kind: str
    command: RunningCommand
    ids: List[str]
    jobs: List[TrackedJob]
    next_look_at: float
    look_interval: float = MIN_LOOK_INTERVAL

    def look_later(self, now: float) -> None:
        """The command has not answered at ``now``: look again later, each wait twice the
        last, up to `MAX_LOOK_INTERVAL` (a cancel: every `MIN_LOOK_INTERVAL`)."""
        self.next_look_at = now + self.look_interval
        if self.kind != 'cancel':
            self.look_interval = min(self.look_interval * 2, MAX_LOOK_INTERVAL)
