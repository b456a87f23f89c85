"""wait() honours its timeout and its target states."""

import time

from psij import JobState

from ..capability import capability, require
from ..context import Context
from .cancel import sleep_arguments


@capability('wait-timeout', 'wait(timeout) returns None after the timeout while the job runs')
def wait_timeout(context: Context) -> None:
    job = context.submit(context.spec('/bin/sleep', sleep_arguments()))
    started = time.monotonic()
    status = job.wait(timeout=1.5)
    waited = time.monotonic() - started
    require(status is None, f'wait(timeout=1.5) returned {status} for a job of an hour')
    require(waited >= 1.4, f'wait(timeout=1.5) returned after {waited:.2f} s')
    job.cancel()
    context.wait_final(job, 120)


@capability('wait-target-states', 'wait(target_states=[ACTIVE]) returns once the job runs')
def wait_target_states(context: Context) -> None:
    job = context.submit(context.spec('/bin/sleep', sleep_arguments()))
    status = job.wait(timeout=context.timeout(180), target_states=[JobState.ACTIVE])
    require(status is not None, 'wait(target_states=[ACTIVE]) timed out after 180 s')
    assert status is not None
    require(status.state == JobState.ACTIVE,
            f'wait(target_states=[ACTIVE]) returned {status.state}')
    job.cancel()
    context.wait_final(job, 120)
