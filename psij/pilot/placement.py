"""Which waiting tasks a worker starts now, given what its node has free.

An adapter over `psij.resource_packing`, which holds the rule (arrival order, backfill, a
reservation for a task passed over too often): this only turns queue entries into its
requests and keeps each task's pass count from one plan to the next. Tasks that could never
fit this worker's node are left in the queue for other workers.
"""

from typing import Dict, List, Sequence

from psij.pilot.task_queue import QueueEntry, TaskRequest
from psij.resource_packing import DEFAULT_MAX_PASSES, Request, Resources, plan, refusal


def needs_of(request: TaskRequest) -> Resources:
    """A task's request as `psij.resource_packing` counts it."""
    return Resources(request.cores, request.gpus, request.memory)


class Placer:
    """Plans for one worker whose node has ``total`` in all."""

    def __init__(self, total: Resources, max_passes: int = DEFAULT_MAX_PASSES) -> None:
        self.total = total
        self.max_passes = max_passes
        self._passes: Dict[str, int] = {}

    def choose(self, waiting: Sequence[QueueEntry], free: Resources) -> List[QueueEntry]:
        """The entries of ``waiting`` (oldest first) to start now with ``free`` left."""
        fitting = [entry for entry in waiting
                   if refusal(needs_of(entry.request), self.total) is None]
        by_name = {entry.file_name: entry for entry in fitting}
        result = plan([Request(entry.file_name, needs_of(entry.request),
                               self._passes.get(entry.file_name, 0)) for entry in fitting],
                      free, self.max_passes)
        self._passes = {request.key: request.passes for request in result.waiting
                        if request.passes}
        return [by_name[key] for key in result.start]
