"""Attach to a job by native id from a fresh process and report what it saw, as JSON.

``python -m psij.conformance.attach_probe EXECUTOR NATIVE_ID [--url URL] [--timeout S]``
prints ``{"states": [...], "state": ..., "exit_code": ..., "message": ...}``: the states the
attached job went through (its state right after attach first) and its last status.
"""

import argparse
import json
import sys
import threading
from typing import List, Optional

from psij import Job, JobExecutor, JobStatus


def main(argv: Optional[List[str]] = None) -> int:
    """Run the probe; exit status 0 once the JSON is printed."""
    parser = argparse.ArgumentParser(prog='python -m psij.conformance.attach_probe')
    parser.add_argument('executor')
    parser.add_argument('native_id')
    parser.add_argument('--url')
    parser.add_argument('--timeout', type=float, default=120.0)
    options = parser.parse_args(argv)

    executor = JobExecutor.get_instance(options.executor, url=options.url)
    job = Job()
    lock = threading.Lock()
    seen: List[str] = []

    def record(_job: Job, status: JobStatus) -> None:
        with lock:
            seen.append(str(status.state))

    job.set_job_status_callback(record)
    executor.attach(job, options.native_id)
    with lock:
        seen.insert(0, str(job.status.state))
    job.wait(timeout=options.timeout)
    status = job.status
    with lock:
        states = list(seen)
    json.dump({'states': states, 'state': str(status.state), 'exit_code': status.exit_code,
               'message': status.message}, sys.stdout)
    print()
    return 0


if __name__ == '__main__':
    sys.exit(main())
