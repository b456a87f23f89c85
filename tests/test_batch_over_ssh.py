"""Slurm and Grid Engine reached over SSH (``url='ssh://psij-test'``), for real: the test
sshd logs in as the test user psijssh, whose jobs run on the real clusters of this machine.
Scripts, markers and outputs are on the remote side (psijssh's home), launchers included."""

import json
import os
import pathlib
import re
import subprocess
import sys
import uuid
from typing import Iterator, Optional, Sequence

import pytest
from batch_helpers import final_status
from psij.executors.slurm import SlurmJobExecutor
from real_tools import SshHost, require_sge, require_slurm, require_sshd

from psij import (
    DependencyCondition,
    Job,
    JobArray,
    JobAttributes,
    JobExecutor,
    JobSpec,
    JobState,
    ResourceSpecV1,
)
from psij.batch import BatchSchedulerExecutor, BatchSchedulerExecutorConfig
from psij.exceptions import SubmitException
from psij.job_array import INDEX_TOKEN
from psij.ssh import SshTransport, parse_ssh_url, remote_shell
from psij.ssh.transport import control_directory
from psij.transport import CommandResult

REMOTE_HOME = pathlib.Path('/home/psijssh')



@pytest.fixture(params=['slurm', 'sge'])
def remote(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
           ) -> Iterator[BatchSchedulerExecutor]:
    yield remote_executor(request.param, monkeypatch)


@pytest.fixture
def remote_slurm(monkeypatch: pytest.MonkeyPatch) -> BatchSchedulerExecutor:
    return remote_executor('slurm', monkeypatch)


def remote_executor(name: str, monkeypatch: pytest.MonkeyPatch) -> BatchSchedulerExecutor:
    """A ``name`` executor over SSH to the test sshd, in a work directory of its own."""
    require_slurm() if name == 'slurm' else require_sge()
    host: SshHost = require_sshd()
    monkeypatch.setenv('PSIJ_SSH_CONFIG', str(host.config))
    # Under this user's home: the same path under psijssh's home on the remote side.
    work = pathlib.Path.home() / '.psij' / 'ssh-tests' / str(uuid.uuid4())
    config = BatchSchedulerExecutorConfig(
        work_directory=work, initial_queue_polling_delay=0.2, queue_polling_interval=2.0,
        marker_polling_interval=0.5, outcome_timeout=30.0)
    executor = JobExecutor.get_instance(name, url='ssh://psij-test', config=config)
    assert isinstance(executor, BatchSchedulerExecutor)
    return executor


def remote_text(executor: BatchSchedulerExecutor, path: pathlib.Path) -> str:
    assert isinstance(executor.transport, SshTransport)
    text = executor.transport.read_file(path)
    assert text is not None, f'{path} is not on the remote side'
    return text


def test_jobs_run_there_with_their_words_verbatim(remote: BatchSchedulerExecutor) -> None:
    assert str(remote.directory).startswith(str(REMOTE_HOME / '.psij' / 'ssh-tests'))
    out = remote.directory.parent / 'out $1.txt'
    words = ["it's", '$HOME', '`touch pwned`', 'a;b', 'two\nlines']
    ok = Job(JobSpec('/bin/sh', ['-c', 'printf "%s|" "$@" "$GREETING"; whoami', 'sh', *words],
                     environment={'GREETING': "hello 'world' $USER"}, stdout_path=out))
    failing = Job(JobSpec('/bin/sh', ['-c', 'exit 3']))
    remote.submit(ok)
    remote.submit(failing)
    assert final_status(ok, 120).state == JobState.COMPLETED
    status = final_status(failing, 120)
    assert (status.state, status.exit_code) == (JobState.FAILED, 3)
    assert remote_text(remote, out) == "|".join(words + ["hello 'world' $USER"]) + '|psijssh\n'
    assert remote_text(remote, remote.directory / f'{ok.native_id}.ec').startswith('0\n')
    assert not remote.batch_config.work_directory.exists()  # nothing of it on this side


def test_a_launcher_runs_from_its_remote_copy(remote: BatchSchedulerExecutor) -> None:
    job = Job(JobSpec('/bin/sh', ['-c', 'echo rank'], launcher='multiple',
                      stdout_path=remote.directory.parent / 'ranks.txt',
                      resources=ResourceSpecV1(process_count=2),
                      attributes=JobAttributes(custom_attributes={'sge.pe': 'smp'})))
    remote.submit(job)
    assert final_status(job, 120).state == JobState.COMPLETED
    assert remote_text(remote, remote.directory.parent / 'ranks.txt') == 'rank\nrank\n'
    script = remote_text(remote, remote.directory / f'{job.id}.sh')
    assert str(remote.directory.parent / 'launchers') in script


def test_an_array_and_a_failed_dependency(remote: BatchSchedulerExecutor) -> None:
    array = JobArray(JobSpec('/bin/sh', ['-c', 'exit $1', 'sh', INDEX_TOKEN]), 3)
    remote.submit_array(array)
    after = Job(JobSpec('/bin/true')).depends_on(array)
    anyway = Job(JobSpec('/bin/true')).depends_on(array, condition=DependencyCondition.ENDED)
    remote.submit(after)
    remote.submit(anyway)
    codes = [(status.state, status.exit_code) for status in
             (final_status(job, 180) for job in array.jobs)]
    assert codes == [(JobState.COMPLETED, 0), (JobState.FAILED, 1), (JobState.FAILED, 2)]
    assert final_status(after, 120).state == JobState.FAILED
    assert 'dependency never satisfied' in (after.status.message or '')
    assert final_status(anyway, 180).state == JobState.COMPLETED


def test_the_scheduler_is_asked_about_the_remote_users_jobs(
        remote: BatchSchedulerExecutor) -> None:
    assert remote.user() == 'psijssh'
    job = Job(JobSpec('/bin/sleep', ['300']))
    remote.submit(job)
    try:
        assert job.native_id in remote.list()
    finally:
        job.cancel()
    assert final_status(job, 120).state == JobState.CANCELED


def test_cancel_and_attach_from_another_process(remote: BatchSchedulerExecutor,
                                                tmp_path: pathlib.Path) -> None:
    sleeper = Job(JobSpec('/bin/sleep', ['300']))
    quick = Job(JobSpec('/bin/sh', ['-c', 'sleep 2; exit 5']))
    remote.submit(sleeper)
    remote.submit(quick)
    attach = (
        'import json, sys\n'
        'from psij import Job, JobExecutor\n'
        'from psij.batch import BatchSchedulerExecutorConfig\n'
        'executor = JobExecutor.get_instance(sys.argv[1], url="ssh://psij-test", config='
        'BatchSchedulerExecutorConfig(work_directory=sys.argv[2], outcome_timeout=30))\n'
        'job = Job()\n'
        'executor.attach(job, sys.argv[3])\n'
        'status = job.wait(timeout=150)\n'
        'print(json.dumps([status.state.name, status.exit_code]))\n')
    done = subprocess.run([sys.executable, '-c', attach, remote.name,
                           str(remote.batch_config.work_directory), str(quick.native_id)],
                          capture_output=True, text=True, timeout=200)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ['FAILED', 5]
    sleeper.cancel()
    assert final_status(sleeper, 120).state == JobState.CANCELED


def test_with_the_host_unreachable_a_submit_is_a_transient_failure(
        remote: BatchSchedulerExecutor, tmp_path: pathlib.Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The executor's url has been used: a new executor needs no connection to be made, and
    # a submit that cannot reach the host says so, as a failure that may go away.
    config = tmp_path / 'config'
    original = pathlib.Path(os.environ['PSIJ_SSH_CONFIG'])
    config.write_text(re.sub(r'Port [0-9]+', 'Port 1', original.read_text()))
    monkeypatch.setenv('PSIJ_SSH_CONFIG', str(config))
    subprocess.run(['ssh', '-F', str(original), '-o',
                    f'ControlPath={control_directory()}/%C', '-O', 'exit', 'psij-test'],
                   capture_output=True, timeout=30)
    offline = JobExecutor.get_instance(remote.name, url='ssh://psij-test',
                                       config=remote.batch_config)
    assert isinstance(offline, BatchSchedulerExecutor)
    assert offline.directory == remote.directory
    job = Job(JobSpec('/bin/true'))
    with pytest.raises(SubmitException) as raised:
        offline.submit(job)
    assert raised.value.transient
    assert 'ssh to psij-test failed' in raised.value.message, raised.value.message


class DroppingTransport(SshTransport):
    """The real SSH transport, whose first submit loses its connection: the remote shell is
    killed (ssh then exits with 255, as when a connection drops) right after sbatch ran
    (``after=True``: the job is at Slurm, its answer lost) or before it could run."""

    def __init__(self, url: str, after: bool) -> None:
        super().__init__(parse_ssh_url(url))
        self.after = after
        self.dropped = 0

    def run(self, argv: Sequence[str], stdin: Optional[str] = None,
            timeout: float = 60.0) -> CommandResult:
        if 'sbatch' in argv and not self.dropped:
            self.dropped += 1
            script = remote_shell.command_script(argv, stdin)
            script = script + 'kill -9 $$\n' if self.after else 'kill -9 $$\n' + script
            return self.run_script(script, argv, timeout)
        return super().run(argv, stdin, timeout)


def submissions_of(executor: BatchSchedulerExecutor, job: Job) -> int:
    """How many jobs Slurm has from ``job``'s script."""
    script = str(executor.directory / f'{job.id}.sh')
    listed = executor.transport.run(['squeue', '--noheader', '--states=all', '--user=psijssh',
                                     '--format=%o'])
    accounted = executor.transport.run(['sacct', '--noheader', '--parsable2', '--allocations',
                                        '--user=psijssh', '--format=JobID,SubmitLine'])
    ids = {line.split('|')[0] for line in accounted.stdout.splitlines() if script in line}
    return max(len(ids), listed.stdout.split().count(script))


@pytest.mark.parametrize('after', [True, False], ids=['after-sbatch', 'before-sbatch'])
def test_a_submit_whose_connection_drops_is_never_duplicated(
        remote_slurm: BatchSchedulerExecutor, after: bool) -> None:
    # Slurm is the scheduler that says which script a job came from.
    remote = remote_slurm
    dropping = DroppingTransport('ssh://psij-test', after)
    executor = SlurmJobExecutor(url='ssh://psij-test', config=remote.batch_config,
                                transport=dropping)
    job = Job(JobSpec('/bin/sh', ['-c', 'exit 6']))
    executor.submit(job)
    assert dropping.dropped == 1
    status = final_status(job, 120)
    assert (status.state, status.exit_code) == (JobState.FAILED, 6)
    assert submissions_of(executor, job) == 1
