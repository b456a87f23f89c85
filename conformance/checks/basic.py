"""A job runs to completion; a failing job reports its exit code."""

from psij import JobState

from ..capability import capability, require
from ..context import Context


@capability('submit-complete', 'a job that exits 0 ends COMPLETED with exit code 0')
def submit_complete(context: Context) -> None:
    job = context.submit(context.spec('/bin/true'))
    require(job.native_id is not None, 'submit() returned without a native id')
    status = context.wait_final(job, 120)
    require(status.state == JobState.COMPLETED,
            f'expected COMPLETED, got {status.state} ({status.message})')
    require(status.exit_code in (0, None),
            f'a COMPLETED job reports exit code {status.exit_code}')


@capability('exit-code', 'a job that exits 3 ends FAILED with exit code 3')
def exit_code(context: Context) -> None:
    job = context.submit(context.spec('/bin/sh', ['-c', 'exit 3']))
    status = context.wait_final(job, 120)
    require(status.state == JobState.FAILED,
            f'expected FAILED, got {status.state} ({status.message})')
    require(status.exit_code == 3, f'expected exit code 3, got {status.exit_code}')
