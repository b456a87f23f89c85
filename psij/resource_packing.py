"""Which waiting jobs start now: placement of resource requests into free capacity.

Pure functions and values, no IO: the local executor's budget (`psij.executors.local_budget`)
and any other runner of jobs on a fixed set of resources (a pilot) feed it the requests of
their waiting jobs in arrival order and what is free, and start what it says.

The rule (backfill with a reservation that comes with age):

- Requests are taken in arrival order. One that fits into what is still available starts; what
  it takes is no longer available to the requests after it.
- One that does not fit waits, and younger requests that fit may start ahead of it
  (backfill). Every time a younger request starts while it waits, it is *passed over* once
  (`Request.passes`, which the caller keeps from one plan to the next).
- A waiting request that has been passed over ``max_passes`` times holds a *reservation*
  (from that very pass on, within the same plan too): from then on a younger request may
  start only if it takes nothing the reserved one needs, that is, in each of cores, GPUs
  and memory, only what is available beyond the reserved request's whole need. Backfill can
  thus never delay it: once the jobs that were running when it got its reservation have
  ended, it fits and starts (this is EASY backfill without run time estimates: "does not
  delay the reserved job" is decided by resources alone). ``max_passes=0`` reserves for the
  oldest waiting request at once (strict); a larger value trades a bounded wait of large
  jobs for better packing.
- Several reservations stack: each one takes its need out of what later requests may use.
- A request larger than the whole budget could never start: `refusal` says so, naming the
  field and the budget, and the caller refuses it instead of queueing it.

Requests of others (``own=False``: another process's jobs, which that process starts) take
part in the plan as if started, so that room is left for them, but are never in
`Plan.start`, and the caller's own starts do not count as passing them.
"""

from dataclasses import dataclass, replace
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

__all__ = ['Plan', 'Request', 'Resources', 'DEFAULT_MAX_PASSES', 'plan', 'refusal']

#: How many times a waiting request may be passed over before it holds a reservation.
DEFAULT_MAX_PASSES = 8

_FIELDS = ('cores', 'gpus', 'memory')


@dataclass(frozen=True)
class Resources:
    """An amount of cores, GPUs and memory (bytes). Amounts in a plan may be negative while
    computing what lacks; requests and budgets are never negative."""

    cores: int = 0
    gpus: int = 0
    memory: int = 0

    def fits_in(self, available: 'Resources') -> bool:
        """True if this amount is at most ``available`` in every field."""
        return (self.cores <= available.cores and self.gpus <= available.gpus
                and self.memory <= available.memory)

    def plus(self, other: 'Resources') -> 'Resources':
        """The sum, field by field."""
        return Resources(self.cores + other.cores, self.gpus + other.gpus,
                         self.memory + other.memory)

    def minus(self, other: 'Resources') -> 'Resources':
        """The difference, field by field (may be negative)."""
        return Resources(self.cores - other.cores, self.gpus - other.gpus,
                         self.memory - other.memory)

    def beyond(self, need: 'Resources') -> 'Resources':
        """What this amount has in excess of ``need``, field by field, never below 0: what a
        reservation for ``need`` leaves to others."""
        return Resources(max(0, self.cores - need.cores), max(0, self.gpus - need.gpus),
                         max(0, self.memory - need.memory))

    def describe(self) -> str:
        """E.g. ``'2 cores, 1 GPU, 4096 bytes of memory'``; fields that are 0 are left out."""
        parts = []
        if self.cores:
            parts.append(f'{self.cores} core' + ('s' if self.cores != 1 else ''))
        if self.gpus:
            parts.append(f'{self.gpus} GPU' + ('s' if self.gpus != 1 else ''))
        if self.memory:
            parts.append(f'{self.memory} bytes of memory')
        return ', '.join(parts) if parts else 'nothing'


@dataclass(frozen=True)
class Request:
    """A waiting job's need. ``key`` names it to the caller; ``passes`` counts how often a
    younger request started while it waited; ``own=False`` marks a request the caller does
    not start itself (see the module docstring)."""

    key: str
    needs: Resources
    passes: int = 0
    own: bool = True


@dataclass(frozen=True)
class Plan:
    """What to do now. ``start``: keys of the caller's own requests to start, in arrival
    order. ``waiting``: every request not started (others' too), in arrival order, with
    ``passes`` brought up to date. ``reserved``: keys holding a reservation. `reason` says
    what a waiting own request waits for."""

    start: Tuple[str, ...]
    waiting: Tuple[Request, ...]
    reserved: Tuple[str, ...]
    #: For each waiting own request: (why, its needs, what was available when it was passed).
    why: Mapping[str, Tuple[str, Resources, Resources]]

    def reason(self, key: str) -> str:
        """What the waiting own request ``key`` waits for, fit for a status message, e.g.
        ``'waiting for resources (cores: needs 4, 1 available)'``."""
        kind, needs, available = self.why[key]
        return f'{kind} ({_lacking(needs, available)})'


def refusal(needs: Resources, budget: Resources) -> Optional[str]:
    """None if ``needs`` fits into the whole ``budget``; otherwise why it never can, naming the
    first field over the budget and the budget, e.g. ``'needs 4 cores, more than the whole
    budget (cores=2)'``."""
    for name in _FIELDS:
        need, have = getattr(needs, name), getattr(budget, name)
        if need > have:
            unit = {'cores': 'cores', 'gpus': 'GPUs', 'memory': 'bytes of memory'}[name]
            return f'needs {need} {unit}, more than the whole budget ({name}={have})'
    return None


def _lacking(needs: Resources, available: Resources) -> str:
    short = []
    for name in _FIELDS:
        need, have = getattr(needs, name), max(0, getattr(available, name))
        if need > have:
            short.append(f'{name}: needs {need}, {have} available')
    return '; '.join(short)


def plan(waiting: Sequence[Request], free: Resources,
         max_passes: int = DEFAULT_MAX_PASSES) -> Plan:
    """Which of ``waiting`` (in arrival order) start now in ``free``, by the module's rule.

    A request that reaches ``max_passes`` passes in the middle of a plan holds its
    reservation from then on: it is never passed over more than ``max_passes`` times by
    requests that take something it needs.
    """
    if max_passes < 0:
        raise ValueError(f'max_passes must be 0 or more; not {max_passes}')
    available = free
    started: List[int] = []
    reserved: List[str] = []
    why: Dict[str, Tuple[str, Resources, Resources]] = {}
    passes = [request.passes for request in waiting]
    # Waiting requests without a reservation yet: a start of a younger own one passes them.
    unreserved: List[int] = []
    decided = [False] * len(waiting)  # True: it starts (or, for others', room is left)

    def reserve(index: int) -> None:
        nonlocal available
        request = waiting[index]
        reserved.append(request.key)
        why[request.key] = ('waiting for resources, with a reservation', request.needs,
                            available)
        available = available.beyond(request.needs)

    for index, request in enumerate(waiting):
        if request.needs.fits_in(available):
            available = available.minus(request.needs)
            decided[index] = True
            if request.own:
                started.append(index)
                for older in unreserved:
                    passes[older] += 1
                aged = [older for older in unreserved if passes[older] >= max_passes]
                if aged:
                    unreserved = [older for older in unreserved if older not in aged]
                    for older in aged:
                        reserve(older)
            continue
        if passes[index] >= max_passes:
            reserve(index)
            continue
        unreserved.append(index)
        kind = ('waiting for resources held for older waiting jobs'
                if request.needs.fits_in(free) else 'waiting for resources')
        why[request.key] = (kind, request.needs, available)
    still = tuple(replace(request, passes=passes[index]) if passes[index] != request.passes
                  else request for index, request in enumerate(waiting)
                  if not decided[index] or not request.own)
    own_why = {r.key: why[r.key] for r in still if r.own and r.key in why}
    return Plan(start=tuple(waiting[i].key for i in started), waiting=still,
                reserved=tuple(reserved), why=own_why)
