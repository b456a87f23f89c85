"""cancel() ends a queued or a running job CANCELED and leaves no process behind."""

import random
import time
from typing import Optional

from psij import JobState

from ..capability import NotApplicable, capability, require
from ..context import Context
from ..target import Target


def _holdable(target: Target) -> Optional[str]:
    hints = target.hints()
    return None if hints.hold_attributes is not None else hints.no_hold_reason


def sleep_arguments() -> list[str]:
    """``sleep`` arguments that add up to an hour and include a number no other process
    has on its command line (GNU sleep adds its arguments)."""
    return ['3600', f'0.0{random.randrange(10 ** 9, 10 ** 10)}']


@capability('cancel-queued', 'cancel() of a job still queued ends it CANCELED; it never runs',
            applies=_holdable)
def cancel_queued(context: Context) -> None:
    hold = context.target.hints().hold_attributes
    if hold is None:
        raise NotApplicable(context.target.hints().no_hold_reason)
    job = context.submit(context.spec('/bin/true', custom_attributes=hold))
    time.sleep(2)
    require(job.status.state == JobState.QUEUED,
            f'a held job should stay QUEUED; it is {job.status.state}')
    job.cancel()
    status = context.wait_final(job, 120)
    require(status.state == JobState.CANCELED,
            f'expected CANCELED, got {status.state} ({status.message})')
    require(JobState.ACTIVE not in context.history(job).job_states(),
            'the job became ACTIVE although it was cancelled while held')


@capability('cancel-running', 'cancel() of a running job ends it CANCELED and its processes')
def cancel_running(context: Context) -> None:
    arguments = sleep_arguments()
    job = context.submit(context.spec('/bin/sleep', arguments))
    context.wait_state(job, JobState.ACTIVE, 180)
    # Where the job runs on this host, its sleep must be seen before it is cancelled.
    visible = context.wait_for_processes(arguments[1], present=True, seconds=20)
    job.cancel()
    status = context.wait_final(job, 120)
    require(status.state == JobState.CANCELED,
            f'expected CANCELED, got {status.state} ({status.message})')
    if visible:
        gone = context.wait_for_processes(arguments[1], present=False, seconds=30)
        left = [f'{p.pid} {" ".join(p.cmdline())}' for p in context.processes_with(arguments[1])]
        require(gone, f'processes of the cancelled job are still running: {left}')
