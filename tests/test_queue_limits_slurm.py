"""Queue limits on the REAL Slurm cluster of .ci/lrm/slurm-up.sh, which has two partitions:
``debug`` (the default, unlimited) and ``short`` (``MaxTime=00:05:00 MaxNodes=1``).

Every limit refuses a job at `submit` (the ones Slurm's partitions tell, and the config's for
the rest), and nothing is sent; a job under the limits runs; the partitions are read once per
``queue_limits_cache``; the config's limits win over the partition's; a failing ``scontrol``
lets the job through; `psij queues` shows it all. Under CI=true a missing cluster fails.
"""

import json
import logging
import os
import pathlib
import subprocess
import uuid
from datetime import timedelta
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import pytest
from batch_helpers import final_status
from psij.executors.slurm import SlurmJobExecutor
from real_tools import require_slurm

from psij import InvalidJobException, Job, JobAttributes, JobSpec, JobState, ResourceSpecV1
from psij.batch import BatchSchedulerExecutor, BatchSchedulerExecutorConfig
from psij.transport import CommandResult, LocalTransport

WAIT = 90.0


class CountingTransport(LocalTransport):
    """The local transport (real commands), a place of its own (so no cache or tracker is
    shared with other tests), keeping every argv it ran."""

    def __init__(self) -> None:
        self.key = f'counting-{uuid.uuid4()}'
        self.commands: List[List[str]] = []

    def run(self, argv: Sequence[str], stdin: Optional[str] = None,
            timeout: float = 60.0) -> CommandResult:
        self.commands.append(list(argv))
        return super().run(argv, stdin, timeout)

    def count(self, name: str) -> int:
        return sum(1 for argv in self.commands if argv[0] == name)


@pytest.fixture
def transport() -> CountingTransport:
    require_slurm()
    return CountingTransport()


def _executor(work_dir: pathlib.Path, transport: CountingTransport,
              **settings: Any) -> BatchSchedulerExecutor:
    config = BatchSchedulerExecutorConfig(work_directory=work_dir, queue_polling_interval=2.0,
                                          **settings)
    return SlurmJobExecutor(config=config, transport=transport)


def _job(tmp_path: pathlib.Path, queue: Optional[str] = None,
         duration: timedelta = timedelta(minutes=2), **resources: Any) -> Job:
    return Job(JobSpec('/bin/true', directory=tmp_path,
                       resources=ResourceSpecV1(**resources),
                       attributes=JobAttributes(queue_name=queue, duration=duration)))


# The config's limits for what Slurm's partitions here do not limit (on the default queue).
CONFIG = {'debug': {'min_nodes': 1, 'max_cores': 4, 'max_gpus': 1, 'max_memory': '1G',
                    'min_duration': 60}}
REFUSED: List[Tuple[Optional[str], Dict[str, Any], str]] = [
    ('short', dict(node_count=2), 'ResourceSpecV1.node_count: the job asks for 2 nodes; '
     "queue 'short' allows at most 1 node (max_nodes, from the scheduler)"),
    ('short', dict(duration=timedelta(minutes=6)), 'JobAttributes.duration: the job asks for '
     "00:06:00 of wall time; queue 'short' allows at most 00:05:00 of wall time (max_duration, "
     'from the scheduler)'),
    (None, dict(process_count=5), "ResourceSpecV1.process_count x cpu_cores_per_process: the "
     "job asks for 5 CPU cores; queue 'debug' (its default queue) allows at most 4 CPU cores "
     '(max_cores, from the config)'),
    ('debug', dict(process_count=2, gpu_cores_per_process=1), 'asks for 2 GPUs; queue '
     "'debug' allows at most 1 GPU (max_gpus, from the config)"),
    ('debug', dict(memory=2 * 1024 ** 3), "ResourceSpecV1.memory: the job asks for 2147483648 "
     "bytes of memory (2G); queue 'debug' allows at most 1073741824 bytes"),
    ('debug', dict(duration=timedelta(seconds=30)), "JobAttributes.duration: the job asks for "
     "00:00:30 of wall time; queue 'debug' allows at least 00:01:00 of wall time"),
    ('long', {}, "JobAttributes.queue_name is 'long': the scheduler has no such queue (known: "
     'debug, short)'),
]


def test_every_limit_refuses_the_job_and_nothing_is_sent(
        work_dir: pathlib.Path, tmp_path: pathlib.Path, transport: CountingTransport) -> None:
    executor = _executor(work_dir, transport, queue_limits=CONFIG)
    for queue, asked, words in REFUSED:
        asked = dict(asked)
        duration = asked.pop('duration', timedelta(minutes=2))
        job = _job(tmp_path, queue, duration, **asked)
        with pytest.raises(InvalidJobException) as caught:
            executor.submit(job)
        assert words in str(caught.value)
        assert job.native_id is None and job.status.state == JobState.NEW
        assert job.executor is None  # unbound: it may be fixed and submitted again
    assert transport.count('sbatch') == 0
    assert transport.count('scontrol') == 1  # read once for all seven


def test_a_job_under_the_limits_runs_in_its_partition(
        work_dir: pathlib.Path, tmp_path: pathlib.Path, transport: CountingTransport) -> None:
    executor = _executor(work_dir, transport)
    job = _job(tmp_path, 'short', timedelta(minutes=5), node_count=1)
    executor.submit(job)
    native_id = job.native_id
    assert native_id is not None
    fields = subprocess.run(['squeue', '-h', '-t', 'all', '-j', native_id, '-o', '%P|%r'],
                            capture_output=True, text=True).stdout.strip()
    partition, _, reason = fields.partition('|')
    assert partition == 'short'
    # Slurm agrees that the job keeps the partition's limits: it does not hold it for them.
    assert not reason.startswith('Partition'), reason
    status = job.wait(timeout=WAIT)
    if status is None:
        # The shared cluster is full (other tests' jobs first in line): the job waits its
        # turn, for no limit of its partition; that is what this test can see.
        reason = subprocess.run(['squeue', '-h', '-j', native_id, '-o', '%r'],
                                capture_output=True, text=True).stdout.strip()
        assert reason in ('Priority', 'Resources'), reason
        job.cancel()
        assert final_status(job, WAIT).state == JobState.CANCELED
        return
    assert status.state == JobState.COMPLETED


def test_the_partitions_are_read_once_per_cache_period(
        work_dir: pathlib.Path, tmp_path: pathlib.Path, transport: CountingTransport,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from psij.queue_limits import scheduler_cache
    clock = [1000.0]
    cache = scheduler_cache.SchedulerLimitsCache(clock=lambda: clock[0])
    monkeypatch.setattr(scheduler_cache, 'scheduler_limits', cache)
    monkeypatch.setattr('psij.queue_limits.executor_check.scheduler_limits', cache)
    executor = _executor(work_dir, transport, queue_limits_cache=60.0)
    other = _executor(work_dir, transport, queue_limits_cache=60.0)
    for target in (executor, other, executor):
        with pytest.raises(InvalidJobException, match='max_nodes'):
            target.submit(_job(tmp_path, 'short', node_count=2))
    assert transport.count('scontrol') == 1  # both executors, three jobs: one read
    clock[0] += 61.0
    with pytest.raises(InvalidJobException, match='max_duration'):
        executor.submit(_job(tmp_path, 'short', timedelta(minutes=9)))
    assert transport.count('scontrol') == 2
    # Turned off, the scheduler is not asked and its limits do not apply.
    quiet = _executor(work_dir, transport, queue_limits_from_scheduler=False)
    assert quiet.batch_config.queue_limits_from_scheduler is False
    clock[0] += 61.0
    from psij.queue_limits import effective_queues
    assert effective_queues(quiet).scheduler_listed is False
    assert transport.count('scontrol') == 2


def test_the_configs_limit_wins_over_the_partitions(
        work_dir: pathlib.Path, tmp_path: pathlib.Path, transport: CountingTransport) -> None:
    executor = _executor(work_dir, transport,
                         queue_limits={'short': {'max_duration': '00:02:00'}})
    with pytest.raises(InvalidJobException,
                       match=r"at most 00:02:00 of wall time \(max_duration, from the config\)"):
        executor.submit(_job(tmp_path, 'short', timedelta(minutes=3)))
    # The partition's other limit still applies.
    with pytest.raises(InvalidJobException, match=r'max_nodes, from the scheduler'):
        executor.submit(_job(tmp_path, 'short', node_count=2))


def test_a_failing_scontrol_is_logged_and_the_job_is_sent(
        work_dir: pathlib.Path, tmp_path: pathlib.Path, transport: CountingTransport,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    doubles = tmp_path / 'bin'
    doubles.mkdir()
    scontrol = doubles / 'scontrol'
    scontrol.write_text('#!/bin/sh\necho "slurm_load_partitions error: Unable to contact '
                        'slurm controller (connect failure)" >&2\nexit 1\n')
    scontrol.chmod(0o755)
    monkeypatch.setenv('PATH', f'{doubles}{os.pathsep}{os.environ["PATH"]}')
    executor = _executor(work_dir, transport)
    # Over the partition's MaxTime: Slurm has the last word (it keeps the job pending).
    job = _job(tmp_path, 'short', timedelta(minutes=6))
    with caplog.at_level(logging.WARNING, logger='psij.queue_limits'):
        executor.submit(job)
    try:
        assert job.native_id is not None
        assert 'cannot read the queues of slurm' in caplog.text
        assert 'Unable to contact slurm controller' in caplog.text
    finally:
        job.cancel()
    assert final_status(job, WAIT).state == JobState.CANCELED


@pytest.fixture
def site_config(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
                work_dir: pathlib.Path) -> Iterator[pathlib.Path]:
    require_slurm()
    path = tmp_path / 'config.toml'
    path.write_text('[site.ci]\nexecutor = "slurm"\n'
                    f'work_directory = "{work_dir}"\n'
                    '[site.ci.queue.short]\nmax_duration = "00:02:00"\n'
                    '[site.ci.queue.debug]\nmax_gpus = 2\n')
    monkeypatch.setenv('PSIJ_CONFIG', str(path))
    monkeypatch.setenv('PSIJ_SITE_CONFIG', str(tmp_path / 'no-site.toml'))
    monkeypatch.setenv('XDG_CONFIG_HOME', str(tmp_path / 'xdg'))
    yield path


def test_psij_queues_shows_each_limit_and_where_it_came_from(
        site_config: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    from psij.cli.app import main
    assert main(['queues', '-e', 'slurm']) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ['QUEUE', 'MAX_NODES', 'MAX_GPUS', 'MAX_DURATION']
    assert lines[1].split() == ['debug*', '-', '2', '(config)', '-']
    assert lines[2].split() == ['short', '1', '(scheduler)', '-', '00:02:00', '(config)']
    assert main(['queues', '-e', 'slurm', '--json']) == 0
    document: Dict[str, Any] = json.loads(capsys.readouterr().out)
    assert document['scheduler_answered'] is True
    short = next(queue for queue in document['queues'] if queue['name'] == 'short')
    assert short['limits'] == {'max_nodes': {'value': 1, 'source': 'scheduler'},
                               'max_duration': {'value': 120.0, 'source': 'config'}}
    assert main(['queues', '-e', 'local']) != 0


def test_the_sites_executor_refuses_what_its_queues_refuse(
        site_config: pathlib.Path, tmp_path: pathlib.Path) -> None:
    from psij.configuration import load
    executor = load().executor('slurm')
    with pytest.raises(InvalidJobException, match='from the config'):
        executor.submit(_job(tmp_path, 'short', timedelta(minutes=3)))
