"""File staging over SSH, for real: the local files are this user's (root's, in a private
temporary directory the remote user cannot read), the jobs run on the real Slurm as the test
user psijssh behind the test sshd, and every byte goes through the one master connection.

Each test is one short job (see docs/remote.md#staging-files for what each checks).
"""

import os
import pathlib
import re
import subprocess
import threading
import time
import uuid
from typing import Iterator, Set, Tuple

import pytest
from batch_helpers import final_status, wait_until
from real_tools import SshHost, require_slurm, require_sshd

from psij import Job, JobExecutor, JobSpec, JobState
from psij.batch import BatchSchedulerExecutor, BatchSchedulerExecutorConfig
from psij.batch.remote_paths import RemotePaths
from psij.ssh import SshTransport
from psij.ssh.transport import control_directory
from psij.staging import StageIn, StageOut, StageOutFlags, StagingMode

REMOTE_HOME = pathlib.Path('/home/psijssh')


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> SshHost:
    require_slurm()
    found = require_sshd()
    monkeypatch.setenv('PSIJ_SSH_CONFIG', str(found.config))
    return found


def _executor(**settings: object) -> BatchSchedulerExecutor:
    work = pathlib.Path.home() / '.psij' / 'ssh-tests' / str(uuid.uuid4())
    config = BatchSchedulerExecutorConfig(
        work_directory=work, initial_queue_polling_delay=0.2, queue_polling_interval=2.0,
        marker_polling_interval=0.3, outcome_timeout=30.0, **settings)  # type: ignore[arg-type]
    executor = JobExecutor.get_instance('slurm', url='ssh://psij-test', config=config)
    assert isinstance(executor, BatchSchedulerExecutor)
    return executor


@pytest.fixture
def remote(host: SshHost) -> BatchSchedulerExecutor:
    return _executor()


@pytest.fixture
def remote_run(remote: BatchSchedulerExecutor) -> Iterator[pathlib.Path]:
    """A fresh job directory on the remote side."""
    path = REMOTE_HOME / 'staging-tests' / str(uuid.uuid4())
    remote.transport.make_directory(path)
    yield path
    remote.transport.run(['rm', '-rf', str(path)])


def _ssh(executor: BatchSchedulerExecutor) -> SshTransport:
    assert isinstance(executor.transport, SshTransport)
    return executor.transport


def _remote_exists(executor: BatchSchedulerExecutor, path: pathlib.Path) -> bool:
    return _ssh(executor).run(['test', '-e', str(path)]).ok


def _local_tree(tmp_path: pathlib.Path) -> Tuple[pathlib.Path, pathlib.Path]:
    home, back = tmp_path / 'home', tmp_path / 'back'
    home.mkdir()
    back.mkdir()
    os.chmod(tmp_path, 0o700)  # the remote user cannot see these files: they must travel
    return home, back


class ConnectionWatch:
    """The TCP connections to the test sshd opened by ssh processes this process started,
    sampled every 20 ms while the block runs (``ss -p``); the master, made before, is not
    one of them (ssh daemonizes it)."""

    def __init__(self) -> None:
        self.ours: Set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            listing = subprocess.run(['ss', '-Htnp', 'state', 'established', '( dport = :2222 )'],
                                     capture_output=True, text=True).stdout
            for line in listing.splitlines():
                for pid in re.findall(r'pid=([0-9]+)', line):
                    try:
                        stat = pathlib.Path(f'/proc/{pid}/stat').read_text()
                    except OSError:
                        continue
                    if int(stat.rsplit(')', 1)[1].split()[1]) == os.getpid():
                        self.ours.add(line.split()[2])
            time.sleep(0.02)

    def __enter__(self) -> 'ConnectionWatch':
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _master_pid(host: SshHost) -> str:
    check = subprocess.run(['ssh', '-F', str(host.config), '-o',
                            f'ControlPath={control_directory()}/%C', '-O', 'check', 'psij-test'],
                           capture_output=True, text=True)
    found = re.search(r'pid=([0-9]+)', check.stderr)
    assert found, check.stderr
    return found.group(1)


def test_each_mode_in_and_out_through_one_master(
        host: SshHost, remote: BatchSchedulerExecutor, remote_run: pathlib.Path,
        tmp_path: pathlib.Path) -> None:
    home, back = _local_tree(tmp_path)
    (home / 'copied file').write_text('copy\n')
    (home / 'linked').write_text('link\n')
    (home / 'moved').write_text('move\n')
    (home / 'tree' / 'sub').mkdir(parents=True)
    (home / 'tree' / 'sub' / 'leaf').write_text('leaf\n')
    check = ('[ "$(cat "in/copied file")" = copy ] && [ "$(cat linked)" = link ] && '
             '[ "$(cat moved)" = move ] && [ "$(cat tree/sub/leaf)" = leaf ] && '
             'echo ok > result.txt && mkdir -p made/deep && echo d > made/deep/f && '
             'echo l > to-link && mkdir scratch')
    job = Job(JobSpec('/bin/sh', ['-c', check], directory=remote_run, stage_in={
        StageIn(home / 'copied file', 'in/copied file'),
        StageIn(f'file://{home}/linked', 'linked', StagingMode.LINK),
        StageIn(str(home / 'moved'), 'moved', StagingMode.MOVE),
        StageIn(home / 'tree', 'tree')},
        stage_out={
            StageOut('result.txt', back / 'deep' / 'on success.txt', StageOutFlags.ON_SUCCESS),
            StageOut('result.txt', back / 'on error.txt', StageOutFlags.ON_ERROR),
            StageOut('never made', back / 'absent', StageOutFlags.IF_PRESENT),
            StageOut('made', back / 'made', mode=StagingMode.MOVE),
            StageOut('to-link', back / 'linked-out', mode=StagingMode.LINK)},
        cleanup={'scratch', 'in'}))
    _ssh(remote).run(['true'])  # the master is open before the watch
    master = _master_pid(host)
    with ConnectionWatch() as watch:
        remote.submit(job)
        assert not (home / 'moved').exists()  # MOVE: removed once the scheduler has the job
        status = final_status(job, 120)
    assert status.state == JobState.COMPLETED, status
    assert watch.ours == set() and _master_pid(host) == master  # only the master carried it
    assert (back / 'deep' / 'on success.txt').read_text() == 'ok\n'
    assert not (back / 'on error.txt').exists() and not (back / 'absent').exists()
    assert (back / 'made' / 'deep' / 'f').read_text() == 'd\n'
    assert (back / 'linked-out').read_text() == 'l\n' and not (back / 'linked-out').is_symlink()
    assert (home / 'copied file').exists() and (home / 'linked').exists()
    assert not _remote_exists(remote, remote_run / 'made')  # moved out of the job directory
    assert _remote_exists(remote, remote_run / 'to-link')
    assert not _remote_exists(remote, remote_run / 'scratch')
    assert not _remote_exists(remote, remote_run / 'in')
    assert not _remote_exists(remote, remote.directory / f'{job.id}.staging')  # emptied


def test_a_missing_source_fails_the_job_naming_it(
        remote: BatchSchedulerExecutor, remote_run: pathlib.Path,
        tmp_path: pathlib.Path) -> None:
    home, _ = _local_tree(tmp_path)
    missing = home / 'no such input'
    job = Job(JobSpec('/bin/sh', ['-c', 'touch ran'], directory=remote_run,
                      stage_in={StageIn(missing, 'input')}))
    remote.submit(job)
    status = final_status(job, 120)
    assert status.state == JobState.FAILED, status
    assert str(missing) in (status.message or '') and 'stage_in' in (status.message or '')
    assert not _remote_exists(remote, remote_run / 'ran')


def test_a_failed_stage_out_after_success_fails_the_job_and_keeps_what_arrived(
        remote: BatchSchedulerExecutor, remote_run: pathlib.Path,
        tmp_path: pathlib.Path) -> None:
    _, back = _local_tree(tmp_path)
    (back / 'a file').write_text('in the way\n')
    blocked = back / 'a file' / 'out'  # its parent is a file: it cannot be made
    job = Job(JobSpec('/bin/sh', ['-c', 'echo 1 > made; echo 2 > blocked'],
                      directory=remote_run, stage_out={
                          StageOut('made', back / 'made'), StageOut('blocked', blocked)}))
    remote.submit(job)
    status = final_status(job, 120)
    assert status.state == JobState.FAILED, status
    assert str(blocked) in (status.message or ''), status
    assert 'stage_out' in (status.message or '') and status.exit_code == 0
    assert (back / 'made').read_text() == '1\n'
    # What did not arrive stays on the remote side, in the staging area the message names.
    assert str(remote.directory / f'{job.id}.staging') in (status.message or '')


def test_on_cancel_stages_out_and_cleans_up_after_the_cancel(
        remote: BatchSchedulerExecutor, remote_run: pathlib.Path,
        tmp_path: pathlib.Path) -> None:
    _, back = _local_tree(tmp_path)
    job = Job(JobSpec('/bin/sh', ['-c', 'echo partial > partial.txt; mkdir tmp; sleep 60'],
                      directory=remote_run, stage_out={
                          StageOut('partial.txt', back / 'partial.txt', StageOutFlags.ON_CANCEL),
                          StageOut('partial.txt', back / 'moved.txt',
                                   StageOutFlags.ON_CANCEL, StagingMode.MOVE),
                          StageOut('partial.txt', back / 'success.txt', StageOutFlags.ON_SUCCESS),
                          StageOut('absent', back / 'absent',
                                   StageOutFlags.ON_CANCEL | StageOutFlags.IF_PRESENT)},
                      cleanup={'tmp'}, cleanup_flags=StageOutFlags.ON_CANCEL))
    remote.submit(job)
    wait_until(lambda: _remote_exists(remote, remote_run / 'tmp'), 'the job started', 120)
    job.cancel()
    status = final_status(job, 120)
    assert status.state == JobState.CANCELED, status
    assert 'stage_out' not in (status.message or ''), status
    assert (back / 'partial.txt').read_text() == 'partial\n'
    assert (back / 'moved.txt').read_text() == 'partial\n'
    assert not (back / 'success.txt').exists() and not (back / 'absent').exists()
    assert not _remote_exists(remote, remote_run / 'partial.txt')  # MOVE took it
    assert not _remote_exists(remote, remote_run / 'tmp')


def test_a_killed_script_has_its_on_error_outputs_brought_back(
        remote: BatchSchedulerExecutor, remote_run: pathlib.Path,
        tmp_path: pathlib.Path) -> None:
    # The job kills its own process group, script included: no exit-code marker, so psij
    # brings the ON_ERROR outputs back itself after the FAILED end.
    _, back = _local_tree(tmp_path)
    job = Job(JobSpec('/bin/sh', ['-c', 'echo step-7 > checkpoint; mkdir tmp; kill -KILL 0'],
                      directory=remote_run, stage_out={
                          StageOut('checkpoint', back / 'checkpoint', StageOutFlags.ON_ERROR),
                          StageOut('checkpoint', back / 'success', StageOutFlags.ON_SUCCESS)},
                      cleanup={'tmp'}, cleanup_flags=StageOutFlags.ON_ERROR))
    remote.submit(job)
    status = final_status(job, 120)
    assert status.state == JobState.FAILED, status
    assert (back / 'checkpoint').read_text() == 'step-7\n'
    assert not (back / 'success').exists()
    assert not _remote_exists(remote, remote_run / 'tmp')


def test_mapped_paths_are_translated_and_kept_at_their_place(
        host: SshHost, tmp_path: pathlib.Path) -> None:
    local = tmp_path / 'proj'
    (local / 'inputs').mkdir(parents=True)
    (local / 'inputs' / 'data.txt').write_text('data\n')
    os.chmod(tmp_path, 0o700)
    mirror = REMOTE_HOME / 'staging-tests' / f'mirror-{uuid.uuid4()}'
    executor = _executor(remote_paths={str(local): str(mirror)})
    executor.transport.make_directory(mirror / 'run')
    try:
        # Local paths under the prefix; the stage-out target given as the remote path.
        job = Job(JobSpec('/bin/sh', ['-c', 'pwd; [ -L data.txt ] && cat data.txt > out.txt'],
                          directory=local / 'run', stdout_path=local / 'run' / 'stdout.txt',
                          stage_in={StageIn(local / 'inputs' / 'data.txt', 'data.txt',
                                            StagingMode.LINK)},
                          stage_out={StageOut('out.txt', mirror / 'results' / 'out.txt')}))
        executor.submit(job)
        status = final_status(job, 120)
        assert status.state == JobState.COMPLETED, status
        transport = _ssh(executor)
        assert transport.read_file(mirror / 'run' / 'stdout.txt') == f'{mirror}/run\n'
        assert transport.read_file(mirror / 'inputs' / 'data.txt') == 'data\n'  # kept there
        assert (local / 'results' / 'out.txt').read_text() == 'data\n'
        assert transport.read_file(mirror / 'results' / 'out.txt') == 'data\n'  # a COPY stays
    finally:
        executor.transport.run(['rm', '-rf', str(mirror)])


def test_remote_paths_are_checked_naming_the_field() -> None:
    with pytest.raises(ValueError, match='remote_paths.*not an absolute path'):
        BatchSchedulerExecutorConfig(remote_paths={'proj': '/scratch/proj'})
    with pytest.raises(ValueError, match='remote_paths must be a dict'):
        BatchSchedulerExecutorConfig(remote_paths=['/a'])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="remote prefix '/s' is given for"):
        BatchSchedulerExecutorConfig(remote_paths={'/a': '/s', '/b': '/s/'})
    paths = RemotePaths({'/home/me/proj': '/scratch/me/proj', '/home/me': '/scratch/me/home'})
    assert paths.to_remote('/home/me/proj/run/x') == '/scratch/me/proj/run/x'
    assert paths.to_remote('/home/me/project') == '/scratch/me/home/project'
    assert paths.to_remote('/elsewhere/x') == '/elsewhere/x'
    assert paths.to_local('/scratch/me/proj/out') == '/home/me/proj/out'
    assert paths.to_remote('relative/x') == 'relative/x'
