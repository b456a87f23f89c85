"""What a worker knows of the allocation it runs in: the providing executor's job id, and
when the allocation ends.

The end is what a worker compares a task's duration with (see `psij.pilot.worker`): it must
never be later than the real end, or a task would be started that the allocation's time
limit cuts off. The scheduler starts an allocation's clock before the worker starts, so the
worker's own start plus the allocation's duration is *later* than the real end by the time
the worker took to start (seconds, usually). Where the scheduler can say the real end
(Slurm), it is asked once, when the worker starts, and the earlier of the two is taken;
elsewhere the estimate stands, and a task whose duration is within those seconds of the time
left can still be cut off (it then runs again, as any task whose allocation ended under it).
"""

import logging
import os
import subprocess
import time
from datetime import datetime
from typing import Mapping, Optional

logger = logging.getLogger('psij.pilot.worker_allocation')

#: Seconds the one ``squeue`` call at a worker's start may take.
SQUEUE_TIMEOUT = 10.0


def allocation_job_id() -> str:
    """The providing executor's id of the job this worker runs in: the batch scheduler's job
    id from the environment, else (the local executor, whose native id is the pid of the
    process it execs) this process's id."""
    for variable in ('SLURM_JOB_ID', 'JOB_ID', 'PBS_JOBID', 'LSB_JOBID'):
        value = os.environ.get(variable)
        if value:
            return value
    return str(os.getpid())


def parse_slurm_end(text: str) -> Optional[float]:
    """The end time ``squeue -o %e`` printed (``2026-12-03T14:30:00``, the node's local
    time) as seconds since the epoch, or None for anything else (``N/A``, ``Unknown``, no
    output for a job squeue no longer knows)."""
    line = text.strip()
    try:
        return datetime.strptime(line, '%Y-%m-%dT%H:%M:%S').timestamp()
    except ValueError:
        return None


def slurm_end(environment: Mapping[str, str]) -> Optional[float]:
    """The end Slurm has for the job of ``environment`` (seconds since the epoch), or None
    outside Slurm or if it cannot say. ``SLURM_JOB_END_TIME`` (Slurm 23.02 and later) costs
    nothing; else one ``squeue`` call."""
    given = environment.get('SLURM_JOB_END_TIME', '')
    if given.isdigit():
        return float(given)
    job_id = environment.get('SLURM_JOB_ID')
    if not job_id:
        return None
    try:
        result = subprocess.run(['squeue', '-h', '-j', job_id, '-o', '%e'],
                                capture_output=True, text=True, timeout=SQUEUE_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as error:
        logger.warning('squeue could not say when job %s ends (%s): counting from the '
                       "worker's start", job_id, error)
        return None
    return parse_slurm_end(result.stdout) if result.returncode == 0 else None


def allocation_end(duration: Optional[float], started: float,
                   environment: Optional[Mapping[str, str]] = None) -> float:
    """When this worker's allocation ends at the latest, in seconds since the epoch
    (``inf``: no ``duration`` known). ``started`` is the worker's start, ``duration`` the
    allocation's (`PilotExecutorConfig.duration`); see the module docstring."""
    if duration is None:
        return float('inf')
    end = started + duration
    told = slurm_end(os.environ if environment is None else environment)
    return end if told is None else min(end, told)


def monotonic_deadline(end: float) -> float:
    """``end`` (seconds since the epoch) on the `time.monotonic` clock, which the worker's
    loop reads anyway: comparing a task's duration with the time left is then arithmetic,
    not a system call."""
    if end == float('inf'):
        return end
    return time.monotonic() + (end - time.time())
