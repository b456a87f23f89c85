"""The batches one worker holds (`psij.pilot.task_batches`): the elements it claimed and
has not started yet, and, per batch claim, how many of its elements still lack an outcome
(the claim is removed with the last one, so that a release finds every element without one)."""

import collections
import math
import pathlib
from typing import Any, Deque, Dict, List, Optional, Set, Tuple

from psij.pilot.task_batches import batch_range, elements_of, task_count
from psij.pilot.task_queue import PilotDirectory, QueueEntry
from psij.resource_packing import Resources

#: A claimed element not started yet: its entry (its own id, the batch's request), the
#: batch's claim, and its task document (id, attempt, spec).
HeldElement = Tuple[QueueEntry, pathlib.Path, Dict[str, Any]]


class WorkerBatches:
    """A worker's claimed batches."""

    def __init__(self) -> None:
        self.waiting: Deque[HeldElement] = collections.deque()
        self._left: Dict[pathlib.Path, int] = {}

    def documents(self, directory: PilotDirectory, entry: QueueEntry,
                  path: pathlib.Path) -> List[Dict[str, Any]]:
        """The task documents of the claimed file ``path``: one, or a batch's elements
        (counted, so that the claim stays until each has an outcome)."""
        document = directory.read_task(path)
        if batch_range(entry.task_id) is None:
            return [dict(document, id=entry.task_id)]
        elements = elements_of(entry, document)
        self._left[path] = len(elements)
        return elements

    def hold(self, entry: QueueEntry, path: pathlib.Path, elements: List[Dict[str, Any]],
             canceled: Set[str]) -> List[Dict[str, Any]]:
        """Keep the elements of a claimed batch to start as room allows; returns those with
        a cancel mark (never to start)."""
        marked = []
        for task in elements:
            if task['id'] in canceled:
                marked.append(task)
            else:
                element = QueueEntry(task['id'], entry.request, entry.file_name,
                                     entry.duration)
                self.waiting.append((element, path, task))
        return marked

    def next_fitting(self, free: Resources) -> Optional[HeldElement]:
        """The oldest held element if it fits in ``free`` (taken from the held ones)."""
        if self.waiting and self.waiting[0][0].request.fits_in(free):
            return self.waiting.popleft()
        return None

    def outcome_written(self, path: pathlib.Path) -> bool:
        """One more outcome of the claim ``path`` is written: whether it may go now."""
        left = self._left.pop(path, 1) - 1
        if left:
            self._left[path] = left
        return not left


def time_needed(entry: QueueEntry, total: Resources) -> float:
    """Seconds the claim of ``entry`` needs left: a task's duration, or for a batch the
    rounds of its elements that a node of ``total`` runs side by side."""
    count = task_count(entry.task_id)
    if count == 1 or not entry.duration:
        return entry.duration
    at_once = max(1, total.cores // max(1, entry.request.cores))
    return entry.duration * math.ceil(count / at_once)
