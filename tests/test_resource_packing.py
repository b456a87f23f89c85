"""psij.resource_packing: the placement rule, by examples and by simulated runs (hypothesis)."""

from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from psij.resource_packing import Plan, Request, Resources, plan, refusal


def _req(key: str, cores: int, gpus: int = 0, memory: int = 0, passes: int = 0,
         own: bool = True) -> Request:
    return Request(key, Resources(cores, gpus, memory), passes, own)


def test_fitting_jobs_start_in_arrival_order() -> None:
    result = plan([_req('a', 1), _req('b', 2), _req('c', 1)], Resources(3))
    assert result.start == ('a', 'b')
    assert [r.key for r in result.waiting] == ['c']
    assert 'cores: needs 1, 0 available' in result.reason('c')


def test_small_job_backfills_and_passes_the_big_one() -> None:
    result = plan([_req('big', 4), _req('small', 1)], Resources(2), max_passes=3)
    assert result.start == ('small',)
    assert result.waiting == (_req('big', 4, passes=1),)
    assert result.reserved == ()


def test_a_reservation_stops_backfill_of_what_the_reserved_job_needs() -> None:
    waiting = [_req('big', 4, gpus=0), _req('small', 1), _req('gpu-only', 0, gpus=1)]
    result = plan(waiting, Resources(2, gpus=1), max_passes=3)
    assert result.start == ('small', 'gpu-only')
    waiting = [_req('big', 4, passes=3), _req('small', 1), _req('gpu-only', 0, gpus=1)]
    result = plan(waiting, Resources(2, gpus=1), max_passes=3)
    # The GPU job takes nothing the reserved one needs; the 1-core job would delay it.
    assert result.start == ('gpu-only',)
    assert result.reserved == ('big',)
    assert 'older' in result.reason('small')
    assert 'reservation' in result.reason('big')


def test_a_reservation_leaves_the_surplus_beyond_its_need_to_others() -> None:
    waiting = [_req('big', 3, gpus=1, passes=0), _req('small', 1)]
    result = plan(waiting, Resources(4, gpus=0), max_passes=0)
    # 4 cores free, the reserved job needs 3 of them (and a GPU that is busy): 1 is surplus.
    assert result.start == ('small',)
    assert plan([_req('big', 3, gpus=1), _req('a', 1), _req('b', 1)], Resources(4),
                max_passes=0).start == ('a',)


def test_others_requests_get_room_but_are_not_started() -> None:
    waiting = [_req('theirs', 2, own=False), _req('mine', 1), _req('mine2', 1)]
    result = plan(waiting, Resources(3))
    assert result.start == ('mine',)
    assert [r.key for r in result.waiting] == ['theirs', 'mine2']
    assert result.waiting[0].passes == 0
    assert set(result.why) == {'mine2'}


def test_refusal_names_the_field_and_the_budget() -> None:
    assert refusal(Resources(2, 1, 10), Resources(2, 1, 10)) is None
    assert refusal(Resources(4), Resources(2)) == (
        'needs 4 cores, more than the whole budget (cores=2)')
    message = refusal(Resources(1, gpus=2), Resources(8, gpus=1))
    assert message is not None and 'gpus=1' in message
    message = refusal(Resources(1, memory=2048), Resources(8, memory=1024))
    assert message is not None and 'memory=1024' in message


def test_negative_max_passes_is_refused() -> None:
    with pytest.raises(ValueError, match='max_passes'):
        plan([], Resources(1), max_passes=-1)


@dataclass
class _Run:
    """A simulated machine driven by `plan` in whole ticks."""

    budget: Resources
    max_passes: int
    waiting: List[Request] = field(default_factory=list)
    running: Dict[str, Tuple[Resources, int]] = field(default_factory=dict)  # key: (need, end)
    started_at: Dict[str, int] = field(default_factory=dict)

    def used(self) -> Resources:
        total = Resources()
        for need, _ in self.running.values():
            total = total.plus(need)
        return total

    def tick(self, now: int, durations: Dict[str, int]) -> Plan:
        for key in [k for k, (_, end) in self.running.items() if end <= now]:
            del self.running[key]
        result = plan(self.waiting, self.budget.minus(self.used()), self.max_passes)
        needs = {r.key: r.needs for r in self.waiting}
        for key in result.start:
            self.running[key] = (needs[key], now + durations[key])
            self.started_at[key] = now
        self.waiting = list(result.waiting)
        return result


_job = st.tuples(st.integers(0, 4), st.integers(0, 2), st.integers(0, 3), st.integers(1, 5))


@settings(max_examples=150, deadline=None)
@given(jobs=st.lists(_job, min_size=1, max_size=40), max_passes=st.integers(0, 6),
       arrivals=st.lists(st.integers(0, 3), min_size=40, max_size=40))
def test_simulated_runs_stay_within_the_budget_and_do_not_starve(
        jobs: List[Tuple[int, int, int, int]], max_passes: int, arrivals: List[int]) -> None:
    budget = Resources(4, 2, 3)
    run = _Run(budget, max_passes)
    durations: Dict[str, int] = {}
    pending = []
    for index, (cores, gpus, memory, duration) in enumerate(jobs):
        key = f'j{index}'
        durations[key] = duration
        pending.append((arrivals[index] * index // 4, _req(key, cores, gpus, memory)))
    # When the oldest waiting job gets its reservation: the latest end of what then ran.
    deadline_of: Dict[str, int] = {}
    now = 0
    while (pending or run.waiting or run.running) and now < 10_000:
        while pending and pending[0][0] <= now:
            run.waiting.append(pending.pop(0)[1])
        result = run.tick(now, durations)
        assert run.used().fits_in(budget)
        # Reaching max_passes gives a reservation in the same plan.
        assert all(r.passes < max_passes or r.key in result.reserved for r in run.waiting)
        if run.waiting and run.waiting[0].key in result.reserved:
            head = run.waiting[0].key
            latest = max((end for _, end in run.running.values()), default=now)
            deadline_of.setdefault(head, latest)
        now += 1
    assert not run.waiting and len(run.started_at) == len(jobs)
    for key, deadline in deadline_of.items():
        assert run.started_at[key] <= deadline, (key, deadline, run.started_at[key])


@settings(max_examples=100, deadline=None)
@given(small=st.integers(5, 60), max_passes=st.integers(0, 10), width=st.integers(1, 4))
def test_a_big_job_among_a_stream_of_small_ones_is_passed_at_most_max_passes_times(
        small: int, max_passes: int, width: int) -> None:
    run = _Run(Resources(4), max_passes)
    durations = {f's{i}': 1 + i % 3 for i in range(small)}
    durations['big'] = 2
    run.waiting = [_req('s0', 1), _req('s1', 1), _req('big', 4)]
    arrivals = [f's{i}' for i in range(2, small)]
    now = 0
    while 'big' not in run.started_at:
        # New small jobs arrive every tick, so the budget would never drain by itself.
        for _ in range(width):
            if arrivals:
                run.waiting.append(_req(arrivals.pop(0), 1))
        run.tick(now, durations)
        now += 1
        assert now < 200
    younger_first = [key for key, at in run.started_at.items()
                     if key not in ('s0', 's1', 'big') and at <= run.started_at['big']]
    assert len(younger_first) <= max_passes
    # After its last pass it waits at most for what was running to end.
    assert run.started_at['big'] <= max_passes + max(durations.values()) + 1
