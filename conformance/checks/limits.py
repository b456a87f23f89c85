"""A job that runs past its duration ends FAILED."""

import time
from typing import Optional

from psij import JobState

from ..capability import NotApplicable, capability, require
from ..context import Context
from ..target import Target
from .cancel import sleep_arguments


def _enforced(target: Target) -> Optional[str]:
    hints = target.hints()
    return None if hints.duration_limit is not None else hints.no_limit_reason


@capability('duration-limit', 'a job running past its duration is stopped and ends FAILED',
            applies=_enforced, timeout=600)
def duration_limit(context: Context) -> None:
    limit = context.target.hints().duration_limit
    if limit is None:
        raise NotApplicable(context.target.hints().no_limit_reason)
    started = time.monotonic()
    job = context.submit(context.spec('/bin/sleep', sleep_arguments(), duration=limit))
    status = context.wait_final(job, limit + 240)
    took = time.monotonic() - started
    require(status.state == JobState.FAILED,
            f'a job of an hour with a {limit:g} s limit ended {status.state} '
            f'({status.message}) after {took:.0f} s')
    require(status.message is not None and status.message != '',
            'the FAILED status has no message saying why')
