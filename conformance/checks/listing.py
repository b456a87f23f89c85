"""list() names the user's jobs."""

from psij import JobState

from ..capability import capability, require
from ..context import Context
from .cancel import sleep_arguments


@capability('list', 'list() includes the native id of a job that is queued or running')
def list_jobs(context: Context) -> None:
    executor = context.executor()
    job = context.submit(context.spec('/bin/sleep', sleep_arguments()), executor)
    context.wait_state(job, JobState.ACTIVE, 180)
    listed = executor.list()
    require(job.native_id in listed,
            f'list() should include {job.native_id!r}; it returned {listed[:20]!r}'
            + (' ...' if len(listed) > 20 else ''))
    job.cancel()
    context.wait_final(job, 120)
