"""Queue limits read over SSH (``url='ssh://psij-test'``, the test sshd): the limits command
runs through the executor's transport, so the real Slurm partitions and Grid Engine queues
are read from the far side and a job over a limit is refused there too, before anything is
sent."""

import pathlib
import uuid
from datetime import timedelta

import pytest
from real_tools import require_sge, require_slurm, require_sshd

from psij import InvalidJobException, Job, JobAttributes, JobExecutor, JobSpec
from psij.batch import BatchSchedulerExecutor, BatchSchedulerExecutorConfig
from psij.queue_limits import effective_queues


@pytest.mark.parametrize('name, queue', [('slurm', 'short'), ('sge', 'short.q')])
def test_limits_are_read_and_enforced_over_ssh(name: str, queue: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    require_slurm() if name == 'slurm' else require_sge()
    host = require_sshd()
    monkeypatch.setenv('PSIJ_SSH_CONFIG', str(host.config))
    work = pathlib.Path.home() / '.psij' / 'ssh-tests' / str(uuid.uuid4())
    executor = JobExecutor.get_instance(
        name, url='ssh://psij-test', config=BatchSchedulerExecutorConfig(work_directory=work))
    assert isinstance(executor, BatchSchedulerExecutor)
    queues = effective_queues(executor)
    assert queues.scheduler_listed
    assert queues.queues[queue].limits.max_duration == timedelta(minutes=5)
    job = Job(JobSpec('/bin/true', attributes=JobAttributes(
        queue_name=queue, duration=timedelta(minutes=7))))
    with pytest.raises(InvalidJobException, match=f"queue '{queue}' allows at most 00:05:00"):
        executor.submit(job)
    assert job.native_id is None
