"""Helpers of the campaign tests (no tests here): maps, campaigns made through the library,
records read from the logs folder, and the cap on jobs in flight measured from them."""

import json
import pathlib
import subprocess
from typing import Any, Dict, List, Optional, Tuple

from real_tools import require_sge, require_slurm
from test_cli_support import PSIJ, Result, psij

from psij import Job, JobExecutor, JobExecutorConfig
from psij.campaigns import LogsFolder, create_campaign, plan_campaign
from psij.campaigns.plan import spec_for
from psij.campaigns.records import SUBMITTING, JobRecord

#: The executors campaigns are tested with for real: this machine, and the clusters
#: .ci/lrm/ starts.
REAL_EXECUTORS = ['local', 'slurm', 'sge']


def require_executor(name: str) -> None:
    """Fail under CI (skip elsewhere) unless the real scheduler of ``name`` answers."""
    if name == 'slurm':
        require_slurm()
    elif name == 'sge':
        require_sge()


def write_map(directory: pathlib.Path, text: str, name: str = 'jobs.map') -> pathlib.Path:
    """Write a map file into ``directory``."""
    path = directory / name
    path.write_text(text)
    return path


def campaign(work_dir: pathlib.Path, directory: pathlib.Path, *args: str,
             timeout: float = 120) -> Result:
    """Run ``psij campaign ARGS`` in ``directory`` to completion."""
    return psij(work_dir, 'campaign', *args, cwd=directory, timeout=timeout)


def records(logs: pathlib.Path) -> List[Dict[str, Any]]:
    """The job records of a campaign, in order, through ``psij campaign info --json``."""
    result = subprocess.run([str(PSIJ), 'campaign', 'info', '--logs', str(logs), '--json'],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    jobs: List[Dict[str, Any]] = json.loads(result.stdout)['jobs']
    return jobs


def states(logs: pathlib.Path) -> List[str]:
    """The state of each job, read from the record files (cheap enough to poll); [] while
    the folder does not exist yet."""
    if not (logs / 'campaign.json').exists():
        return []
    count = json.loads((logs / 'campaign.json').read_text())['jobs']
    width = len(str(count))
    return [json.loads((logs / f'{str(number).zfill(width)}.json').read_text())['state']
            for number in range(1, count + 1)]


def most_in_flight(jobs: List[Dict[str, Any]]) -> int:
    """The most jobs whose submitted..ended intervals overlap at one moment (an interval
    ends before another starts at the same instant)."""
    events: List[Tuple[float, int]] = []
    for job in jobs:
        events += [(job['times']['submitted'], 1), (job['times']['ended'], -1)]
    most = current = 0
    for _, change in sorted(events):
        current += change
        most = max(most, current)
    return most


def ran(path: pathlib.Path) -> List[str]:
    """The lines commands appended to ``path``, sorted (each command writes its own)."""
    return sorted(path.read_text().split()) if path.exists() else []


def make_campaign(directory: pathlib.Path, executor: str, work_dir: pathlib.Path, text: str,
                  max_running: int = 4) -> LogsFolder:
    """A campaign of the map ``text`` in ``directory/logs``, made through the library as
    ``psij campaign submit`` makes it, with nothing submitted yet."""
    path = write_map(directory, text)
    plan = plan_campaign(str(path), 1, str(directory))
    return create_campaign(plan, directory / 'logs', executor, str(work_dir), max_running, 1)


def interrupt(folder: LogsFolder, name: str, attempt: str, submitted: float) -> JobRecord:
    """Make job ``name``'s record what a process killed between recording a submission and
    recording its native id leaves: ``submitting``, the attempt, no native id."""
    record = folder.read_record(name)
    record.state, record.job_id, record.native_id = SUBMITTING, attempt, None
    record.times['submitted'] = submitted
    folder.write_record(record)
    return record


def submit_unrecorded(folder: LogsFolder, name: str, executor: JobExecutor,
                      submitted: float) -> Job:
    """Submit job ``name`` for real, as the campaign does, but record only that it is being
    submitted: as if the submitting process died as ``submit`` returned."""
    record = folder.read_record(name)
    job = Job()
    job.spec = spec_for(folder, record, job.id)
    interrupt(folder, name, job.id, submitted)
    executor.submit(job)
    return job


def executor_for(name: str, work_dir: pathlib.Path,
                 config: Optional[JobExecutorConfig] = None) -> JobExecutor:
    """The executor ``name`` with the work directory the campaign uses."""
    return JobExecutor.get_instance(name, config=config or JobExecutorConfig(
        work_directory=work_dir))
