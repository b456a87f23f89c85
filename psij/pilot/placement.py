"""Which waiting tasks a worker starts now, given what its node has free.

An adapter over `psij.resource_packing`, which holds the rule (arrival order, backfill, a
reservation for a task passed over too often): this only turns queue entries into its
requests and keeps each task's pass count from one plan to the next. A task that could never
fit this worker's node is named in `Placer.refused` with the reason: every allocation of a
pilot has the same shape, so no other worker could run it either.
"""

from typing import Dict, List, Sequence, Tuple

from psij.pilot.task_queue import QueueEntry, TaskRequest
from psij.resource_packing import DEFAULT_MAX_PASSES, Request, Resources, plan, refusal


def needs_of(request: TaskRequest) -> Resources:
    """A task's request as `psij.resource_packing` counts it (the same value)."""
    return request


class Placer:
    """Plans for one worker whose node has ``total`` in all."""

    def __init__(self, total: Resources, max_passes: int = DEFAULT_MAX_PASSES) -> None:
        self.total = total
        self.max_passes = max_passes
        # Per queue file name: its request as last planned (with its pass count). Dropped
        # once a plan no longer sees it.
        self._known: Dict[str, Request] = {}
        #: Entries of the last `choose` that can never fit, with why.
        self.refused: List[Tuple[QueueEntry, str]] = []

    def choose(self, waiting: Sequence[QueueEntry], free: Resources) -> List[QueueEntry]:
        """The entries of ``waiting`` (oldest first) to start now with ``free`` left."""
        if waiting and all(entry.request == waiting[0].request for entry in waiting) \
                and not any(request.passes for request in self._known.values()):
            self._known = {}  # nothing passed over: a fresh plan would start the same
            return self._choose_alike(waiting, free)
        known: Dict[str, Request] = {}
        requests: List[Request] = []
        by_name: Dict[str, QueueEntry] = {}
        self.refused = []
        for entry in waiting:
            name = entry.file_name
            request = self._known.get(name)
            if request is None:
                why = refusal(entry.request, self.total)
                if why is not None:
                    self.refused.append((entry, why))
                    continue
                request = Request(name, entry.request)
            known[name] = request
            requests.append(request)
            by_name[name] = entry
        result = plan(requests, free, self.max_passes)
        for request in result.waiting:
            known[request.key] = request
        for key in result.start:
            known.pop(key, None)
        self._known = known
        return [by_name[key] for key in result.start]

    def _choose_alike(self, waiting: Sequence[QueueEntry], free: Resources) -> List[QueueEntry]:
        """The plan when every waiting task asks for the same and none was passed over (the
        common case of many tasks of one kind): as many of the oldest as fit, in order.
        No reservation can differ from that, since no task can overtake another."""
        self.refused = []
        why = refusal(waiting[0].request, self.total)
        if why is not None:
            self.refused = [(entry, why) for entry in waiting]
            return []
        chosen: List[QueueEntry] = []
        for entry in waiting:
            if not entry.request.fits_in(free):
                break
            chosen.append(entry)
            free = free.minus(entry.request)
        return chosen
