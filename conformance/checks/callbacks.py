"""States arrive in order, and each job gets exactly one final callback."""

import time
from typing import List

from psij import Job, JobState

from ..capability import capability, require
from ..context import Context
from .cancel import sleep_arguments

_ORDER = {JobState.NEW: 0, JobState.QUEUED: 1, JobState.ACTIVE: 2}


def _rank(state: JobState) -> int:
    return 3 if state.final else _ORDER[state]


def _three_jobs(context: Context) -> List[Job]:
    """A job that completes, one that fails and one cancelled while running, all ended."""
    executor = context.executor()
    jobs = [context.submit(context.spec('/bin/true'), executor),
            context.submit(context.spec('/bin/false'), executor),
            context.submit(context.spec('/bin/sleep', sleep_arguments()), executor)]
    context.wait_state(jobs[2], JobState.ACTIVE, 180)
    jobs[2].cancel()
    for job in jobs:
        context.wait_final(job, 120)
    time.sleep(2)  # a late duplicate callback would arrive now
    return jobs


@capability('state-order', 'states reach callbacks in the order NEW, QUEUED, ACTIVE, final, '
            'none twice')
def state_order(context: Context) -> None:
    for job in _three_jobs(context):
        history = context.history(job)
        for source, states in (('job', history.job_states()),
                               ('executor', history.executor_states())):
            ranks = [_rank(state) for state in states]
            require(ranks == sorted(set(ranks)),
                    f'the {source} callback of job {job.native_id} saw {states}')
            require(bool(states) and states[-1] == job.status.state,
                    f'the {source} callback of job {job.native_id} saw {states}, '
                    f'not ending with {job.status.state}')


@capability('one-final-callback', 'each job gets exactly one final callback, on the job and '
            'on the executor')
def one_final_callback(context: Context) -> None:
    for job in _three_jobs(context):
        history = context.history(job)
        for source, states in (('job', history.job_states()),
                               ('executor', history.executor_states())):
            finals = [state for state in states if state.final]
            require(len(finals) == 1,
                    f'the {source} callback of job {job.native_id} got {len(finals)} final '
                    f'states: {states}')
