"""Python functions as jobs (`psij.functions`) on the REAL Slurm reached over SSH
(``url='ssh://psij-test'``: the test sshd logs in as psijssh, whose jobs run on this machine's
Slurm). The call files, the runner and the results are on the far side (psijssh's home), written
and read through the executor's transport; the jobs run psijssh's ``python3`` (3.11, as the
submitter's), with cloudpickle copied there by the fixture (``PYTHONPATH``), as a user would
install it. The functions of tests/function_jobs.py are pickled by reference: the runner finds
them in /work/main/tests, which psijssh can read. Under CI=true a missing sshd or cluster fails
these tests (`real_tools`)."""

import os
import pathlib
import subprocess
import sys
import textwrap
import time
import uuid
from typing import Iterator

import cloudpickle  # type: ignore[import-untyped,unused-ignore]
import function_cluster_checks as checks
import function_jobs as jobs
import pytest
from real_tools import SshHost, require_slurm, require_sshd

from psij import JobExecutor, JobSpec, JobState
from psij.batch import BatchSchedulerExecutor, BatchSchedulerExecutorConfig
from psij.functions import FunctionExecutor, RunnerError
from psij.ssh import SshTransport, file_transfer

REMOTE_HOME = pathlib.Path('/home/psijssh')
TESTS = pathlib.Path(__file__).parent


def _config(work: pathlib.Path) -> BatchSchedulerExecutorConfig:
    return BatchSchedulerExecutorConfig(
        work_directory=work, initial_queue_polling_delay=0.2, queue_polling_interval=2.0,
        marker_polling_interval=0.5, outcome_timeout=30.0)


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> SshHost:
    require_slurm()
    host = require_sshd()
    monkeypatch.setenv('PSIJ_SSH_CONFIG', str(host.config))
    return host


@pytest.fixture
def remote(host: SshHost) -> Iterator[BatchSchedulerExecutor]:
    """Slurm over SSH, in a work directory of its own under this user's home (the same path
    under psijssh's home there); removed there at the end."""
    work = pathlib.Path.home() / '.psij' / 'ssh-tests' / str(uuid.uuid4())
    executor = JobExecutor.get_instance('slurm', url='ssh://psij-test', config=_config(work))
    assert isinstance(executor, BatchSchedulerExecutor)
    yield executor
    assert isinstance(executor.transport, SshTransport)
    file_transfer.remove_remote(executor.transport, [str(executor.directory.parent)])


def _site(executor: BatchSchedulerExecutor) -> str:
    """cloudpickle copied to the far side; the directory to put on its PYTHONPATH."""
    assert isinstance(executor.transport, SshTransport)
    site = str(executor.directory.parent / 'site')
    file_transfer.push(executor.transport, [(os.path.dirname(cloudpickle.__file__),
                                             f'{site}/cloudpickle')])
    return site


@pytest.fixture
def functions(remote: BatchSchedulerExecutor) -> Iterator[FunctionExecutor]:
    name = f'psij-fn-{uuid.uuid4().hex[:10]}'
    spec = JobSpec(name=name, environment={'PYTHONPATH': _site(remote)})
    yield FunctionExecutor(remote, spec=spec)
    subprocess.run(['scancel', f'--name={name}'], capture_output=True, timeout=30)


def _remote_names(functions: FunctionExecutor) -> set[str]:
    return functions.store.transport.list_directory(functions.directory)


def test_twenty_futures_summed_with_the_files_on_the_far_side(
        functions: FunctionExecutor) -> None:
    assert functions.python == 'python3'
    assert functions.store.remote
    assert str(functions.directory).startswith(str(REMOTE_HOME / '.psij' / 'ssh-tests'))
    assert not functions.work_directory.exists(), 'nothing is written on this side'
    checks.twenty_futures_summed_in_order(functions)
    assert 'runner.py' in _remote_names(functions)
    # Delivered: the call and result files go (after the futures are settled: wait a bit).
    future = functions.submit(jobs.add, 2, 3)
    assert future.result(timeout=checks.WAIT) == 5
    assert future.stdout_path.parent == functions.directory
    deadline = time.monotonic() + 10
    while True:
        left = {n for n in _remote_names(functions) if n.endswith(('.call', '.result'))}
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not left, f'left after delivery: {left}'
    assert f'{future.call_id}.out' in _remote_names(functions)


def test_an_exception_with_its_traceback(functions: FunctionExecutor) -> None:
    checks.exception_with_its_traceback(functions)


def test_a_python_without_cloudpickle_there_fails_saying_so(
        remote: BatchSchedulerExecutor) -> None:
    # psijssh's python3 has no cloudpickle of its own: the runner says so, naming it.
    functions = FunctionExecutor(remote, spec=JobSpec(name=f'psij-fn-{uuid.uuid4().hex[:10]}'))
    future = functions.submit(jobs.square, 2)
    with pytest.raises(RunnerError, match="cloudpickle cannot be imported by /usr/bin/python3"):
        future.result(timeout=checks.WAIT)
    assert future.job.status.state == JobState.FAILED


_SUBMIT_AND_LEAVE = textwrap.dedent('''
    import os, pathlib, sys
    import function_jobs as jobs
    from psij import JobExecutor, JobSpec
    from psij.batch import BatchSchedulerExecutorConfig
    from psij.functions import FunctionExecutor

    work, site, name = sys.argv[1:4]
    config = BatchSchedulerExecutorConfig(work_directory=pathlib.Path(work))
    executor = JobExecutor.get_instance('slurm', url='ssh://psij-test', config=config)
    functions = FunctionExecutor(executor, spec=JobSpec(name=name,
                                                        environment={'PYTHONPATH': site}))
    future = functions.submit(jobs.slow_identity, 7, 3)
    print(future.native_id, flush=True)
    os._exit(0)  # gone at once, as a notebook that was restarted
''')


def test_a_result_recovered_in_a_new_process(functions: FunctionExecutor,
                                             remote: BatchSchedulerExecutor) -> None:
    assert functions.spec.environment is not None
    site = functions.spec.environment['PYTHONPATH']
    completed = subprocess.run(
        [sys.executable, '-c', _SUBMIT_AND_LEAVE, str(functions.work_directory), site,
         str(functions.spec.name)],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, 'PYTHONPATH': os.pathsep.join([str(TESTS), *sys.path])})
    assert completed.returncode == 0, completed.stderr
    native_id = completed.stdout.strip()
    # Another executor, as a new process would make it: same url, same work directory.
    again = JobExecutor.get_instance('slurm', url='ssh://psij-test',
                                     config=_config(functions.work_directory))
    [future] = FunctionExecutor(again).recover(native_id)
    assert future.result(timeout=checks.WAIT) == 7
    assert future.job.status.state == JobState.COMPLETED
    with pytest.raises(LookupError, match='no function job .* on ssh://psij-test'):
        FunctionExecutor(again).recover('999999999')


def test_old_files_are_pruned_there(functions: FunctionExecutor, host: SshHost) -> None:
    old, fresh = 'f' * 32 + '.out', 'e' * 32 + '.call'
    script = (f'cd {functions.directory} && touch -d "40 days ago" {old} native/slurm-1 '
              f'runner.py && touch {fresh}')
    subprocess.run(host.ssh(script), check=True, timeout=60)
    again = FunctionExecutor(functions.executor)  # a new executor prunes at once
    names = _remote_names(again)
    assert old not in names and fresh in names and 'runner.py' in names
    assert 'slurm-1' not in again.store.transport.list_directory(again.store.native_directory)

