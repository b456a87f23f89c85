"""Pilot tasks that record, as they start, the cores their worker's other tasks hold: a check
that no worker ever runs more than its cores at once, from the tasks' side.

Each task names its worker with a shell expression (the allocation's ``$SLURM_JOB_ID`` when
an allocation has one worker, or the worker's name), holds a marker file
``running/<worker>.<task id>.<cores>`` while it sleeps, and logs one line when it starts:
``<task id> <worker> <cores> <cores of the markers it saw>``. A marker exists only while its
task runs (it is made after the task starts and removed before it ends), so what a task sees
is never more than its worker has started and not yet seen end: a line whose two core counts
add up to more than the worker's cores is an oversubscription, whatever the timing.
"""

import collections
import pathlib
import shlex
from typing import Dict, List, NamedTuple

from psij import Job, JobSpec, ResourceSpecV1


class Start(NamedTuple):
    """One logged start of a task."""

    task_id: str
    worker: str
    cores: int
    others: int


def load_logging_script(logs: pathlib.Path, worker: str, cores: int, seconds: float) -> str:
    """The ``sh -c`` script of a task of ``cores`` cores on the worker named by the shell
    expression ``worker``; ``logs`` holds ``running/`` (made here) and ``starts``."""
    running = logs / 'running'
    running.mkdir(exist_ok=True)
    directory = shlex.quote(str(running))
    marker = f'{directory}/"$w.$PSIJ_PILOT_TASK_ID.{cores}"'
    # Builtins only, but for sleep and rm: the 500-task test pays for every fork.
    return (f'w={worker}; s=0; for f in {directory}/"$w".*; do '
            f'[ -e "$f" ] && s=$((s + ${{f##*.}})); done; '
            f'echo "$PSIJ_PILOT_TASK_ID $w {cores} $s" >> {shlex.quote(str(logs / "starts"))}; '
            f': > {marker}; sleep {seconds}; rm -f {marker}')


def load_logging_task(logs: pathlib.Path, worker: str, cores: int, seconds: float) -> Job:
    """A one-process task of ``cores`` cores running `load_logging_script`."""
    return Job(JobSpec('/bin/sh', ['-c', load_logging_script(logs, worker, cores, seconds)],
                       resources=ResourceSpecV1(process_count=1,
                                                cpu_cores_per_process=cores)))


def starts(logs: pathlib.Path) -> List[Start]:
    """Every logged start, in log order."""
    found = []
    for line in (logs / 'starts').read_text().splitlines():
        task_id, worker, cores, others = line.split()
        found.append(Start(task_id, worker, int(cores), int(others)))
    return found


def never_oversubscribed(logs: pathlib.Path, capacity: int) -> Dict[str, int]:
    """Assert that no start saw its worker's cores oversubscribed; the number of starts on
    each worker."""
    by_worker: Dict[str, int] = collections.Counter()
    for start in starts(logs):
        assert start.cores + start.others <= capacity, start
        by_worker[start.worker] += 1
    return dict(by_worker)
