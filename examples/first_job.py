"""Run one real job on this machine through the PSI/J API and print how it ended."""

import sys
import tempfile
from pathlib import Path

from psij import Job, JobExecutor, JobSpec, JobState


def main() -> int:
    output = Path(tempfile.mkdtemp()) / 'hello.txt'
    executor = JobExecutor.get_instance('local')
    job = Job(JobSpec('/bin/echo', ['hello from psij'], stdout_path=output))
    executor.submit(job)
    status = job.wait()
    assert status is not None
    print(f'job {job.native_id}: {status.state}, exit code {status.exit_code}, '
          f'output {output.read_text().strip()!r}')
    return 0 if status.state == JobState.COMPLETED else 1


if __name__ == '__main__':
    sys.exit(main())
