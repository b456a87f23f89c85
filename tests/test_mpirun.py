"""The mpirun launcher: its options through fake mpiruns, then real Open MPI and MPICH.

The real tests (marked ``mpi``) run every mpirun flavour installed: ``mpirun.openmpi`` and
``mpirun.mpich`` (Debian's names), chosen through ``PSIJ_MPIRUN``.
"""

import json
import os
import pathlib
import socket
from typing import Dict, List

import pytest
from doubles import fake_launcher
from doubles.fake_executor import LaunchResult, launch
from doubles.probe_jobs import (
    marker_scripts,
    marks,
    probe_records,
    probe_spec,
    write_script,
)
from real_tools import require_command

from psij import Job, JobSpec, Launcher, ResourceSpecV1
from psij.launcher import LAUNCHER_ERROR_PREFIX

TRICKY_ARGUMENTS = ['-n', '--', '', ' ', 'a b', "it's", '"q"', '$HOME', '`id`', '$(id)',
                    'line\nbreak', '\\', '*', 'é ü 日本', '--version']
TRICKY_VALUE = "new\nline $HOME `id` 'q' \"q\" é"


def test_launch_command_passes_outputs_processes_per_node_and_variables() -> None:
    spec = JobSpec('prog', ['a'], stdout_path='/o', stderr_path='/e',
                   resources=ResourceSpecV1(process_count=4, processes_per_node=2),
                   environment={'GOOD': '1', 'not-a-name': '2'})
    argv = Launcher.get_instance('mpirun').get_launch_command(Job(spec), '/log')
    assert argv[0] == 'bash' and argv[1].endswith('/mpirun.sh')
    assert argv[2:] == ['--log-file', '/log', '--process-count', '4', '--stdout', '/o',
                        '--stderr', '/e', '--processes-per-node', '2',
                        '--forward-variable', 'GOOD', '--', 'prog', 'a']


# --- the options given to mpirun, checked with fake mpiruns --------------------------------

@pytest.fixture
def fake_mpiruns(tmp_path: pathlib.Path) -> pathlib.Path:
    """A directory with ``fake-openmpi-mpirun`` and ``fake-mpich-mpirun``."""
    directory = tmp_path / 'fake bin'
    fake_launcher.install(directory, 'fake-openmpi-mpirun')
    fake_launcher.install(directory, 'fake-mpich-mpirun')
    return directory


def launch_with_fake(spec: JobSpec, directory: pathlib.Path, mpirun: pathlib.Path,
                     hosts: List[str]) -> List[str]:
    """Launch with a fake mpirun; return the argv it was given, up to the rank wrapper."""
    record = directory / 'mpirun-argv'
    result = launch('mpirun', spec, directory, hosts=hosts,
                    env={'PSIJ_MPIRUN': str(mpirun), 'FAKE_LAUNCHER_RECORD': str(record)})
    assert result.exit_code == 0, result.log
    # The first line is the `--version` query.
    version_query, line = record.read_text().splitlines()
    assert json.loads(version_query)[1:] == ['--version']
    argv: List[str] = json.loads(line)
    return argv[:argv.index('bash')]


def test_open_mpi_options(tmp_path: pathlib.Path, fake_mpiruns: pathlib.Path) -> None:
    pre = write_script(tmp_path / 'pre.sh', 'export FROM_PRE=1\nexport HOME=/changed\n')
    spec = probe_spec(tmp_path, resources=ResourceSpecV1(process_count=2, processes_per_node=1),
                      environment={'JOB_VARIABLE': 'x'}, pre_launch=pre)
    host = socket.gethostname()
    argv = launch_with_fake(spec, tmp_path, fake_mpiruns / 'fake-openmpi-mpirun',
                            hosts=[host, 'other-host'])
    assert argv[:9] == ['fake-openmpi-mpirun', '--allow-run-as-root', '--oversubscribe',
                        '-n', '2', '--map-by', 'ppr:1:node',
                        '--hostfile', str(tmp_path / 'nodes')]
    forwarded = [argv[index + 1] for index in range(9, len(argv), 2)]
    assert argv[9::2] == ['-x'] * len(forwarded)
    assert sorted(forwarded) == ['FROM_PRE', 'HOME', 'JOB_VARIABLE']
    assert [record['env']['PSIJ_RANK'] for record in probe_records(tmp_path)] == ['0', '1']


def test_mpich_options(tmp_path: pathlib.Path, fake_mpiruns: pathlib.Path) -> None:
    spec = probe_spec(tmp_path, resources=ResourceSpecV1(process_count=2, processes_per_node=1),
                      environment={'JOB_VARIABLE': 'x'})
    argv = launch_with_fake(spec, tmp_path, fake_mpiruns / 'fake-mpich-mpirun',
                            hosts=['node-a', 'node-b'])
    assert argv == ['fake-mpich-mpirun', '-n', '2', '-ppn', '1', '-f', str(tmp_path / 'nodes')]
    assert [record['env']['PSIJ_RANK'] for record in probe_records(tmp_path)] == ['0', '1']


@pytest.mark.parametrize('mpirun, expected', [
    ('fake-openmpi-mpirun', ['--allow-run-as-root', '--oversubscribe', '-n', '3']),
    ('fake-mpich-mpirun', ['-n', '3']),
])
def test_a_node_file_naming_one_host_is_not_given(
        tmp_path: pathlib.Path, fake_mpiruns: pathlib.Path, mpirun: str,
        expected: List[str]) -> None:
    spec = probe_spec(tmp_path, resources=ResourceSpecV1(process_count=3))
    argv = launch_with_fake(spec, tmp_path, fake_mpiruns / mpirun, hosts=['node-a'] * 3)
    assert argv == [mpirun, *expected]


def test_plain_mpirun_from_path_is_the_default(tmp_path: pathlib.Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv('PSIJ_MPIRUN', raising=False)
    fake_bin = tmp_path / 'bin'
    fake_launcher.install(fake_bin, 'mpirun', behaves_as='fake-openmpi-mpirun')
    record = tmp_path / 'mpirun-argv'
    env = {'PATH': f'{fake_bin}{os.pathsep}{os.environ["PATH"]}',
           'FAKE_LAUNCHER_RECORD': str(record)}
    result = launch('mpirun', probe_spec(tmp_path), tmp_path, env=env)
    assert result.exit_code == 0, result.log
    assert json.loads(record.read_text().splitlines()[-1])[0] == 'fake-openmpi-mpirun'


def test_missing_mpirun_is_a_launcher_failure(tmp_path: pathlib.Path) -> None:
    post = write_script(tmp_path / 'post.sh', 'echo post >> marks\n')
    spec = probe_spec(tmp_path, resources=ResourceSpecV1(process_count=2), post_launch=post)
    result = launch('mpirun', spec, tmp_path, env={'PSIJ_MPIRUN': '/nonexistent/mpirun'})
    assert result.exit_code == 127
    assert result.launcher_failed
    assert "'/nonexistent/mpirun' was not found" in result.failure_message
    assert probe_records(tmp_path) == []
    assert marks(tmp_path) == []


def test_pre_launch_can_choose_the_mpirun(tmp_path: pathlib.Path,
                                          fake_mpiruns: pathlib.Path) -> None:
    mpirun = fake_mpiruns / 'fake-mpich-mpirun'
    pre = write_script(tmp_path / 'pre.sh', f'export PSIJ_MPIRUN="{mpirun}"\n')
    spec = probe_spec(tmp_path, resources=ResourceSpecV1(process_count=2), pre_launch=pre)
    result = launch('mpirun', spec, tmp_path, env={'PSIJ_MPIRUN': '/nonexistent/mpirun'})
    assert result.exit_code == 0, result.log
    assert len(probe_records(tmp_path)) == 2


# --- real mpiruns --------------------------------------------------------------------------

MPIRUNS = ['mpirun.openmpi', 'mpirun.mpich']

# Environment variables that make each real mpirun fail before starting any process.
BROKEN_STARTUP: Dict[str, Dict[str, str]] = {
    'mpirun.openmpi': {'OMPI_MCA_plm': 'no-such-component'},
    'mpirun.mpich': {'HYDRA_LAUNCHER': 'no-such-launcher'},
}


@pytest.fixture(params=MPIRUNS)
def mpirun(request: pytest.FixtureRequest) -> str:
    """The name of a real mpirun; missing ones skip (fail under CI=true)."""
    name: str = request.param
    require_command(name)
    return name


def launch_mpi(spec: JobSpec, directory: pathlib.Path, mpirun: str,
               **env: str) -> LaunchResult:
    return launch('mpirun', spec, directory, env={'PSIJ_MPIRUN': mpirun, **env})


@pytest.mark.mpi
def test_ranks_run_with_their_variables_and_output_in_the_job_files(
        tmp_path: pathlib.Path, mpirun: str) -> None:
    spec = probe_spec(tmp_path, ['x'], resources=ResourceSpecV1(process_count=3),
                      environment={'PROBE_BARRIER': str(tmp_path / 'barrier')},
                      **marker_scripts(tmp_path))
    result = launch_mpi(spec, tmp_path, mpirun)
    assert result.exit_code == 0, result.log
    records = probe_records(tmp_path)
    assert [record['env']['PSIJ_RANK'] for record in records] == ['0', '1', '2']
    assert all(record['env']['PSIJ_PROCESS_COUNT'] == '3' for record in records)
    assert all(record['barrier_passed'] for record in records)
    assert all(record['env']['FROM_PRE_LAUNCH'].startswith('set by pre') for record in records)
    assert marks(tmp_path) == ['pre', 'post job-exit=0 records=3']
    assert sorted(result.stdout.splitlines()) == ['out 0', 'out 1', 'out 2']
    assert sorted(result.stderr.splitlines()) == ['err 0', 'err 1', 'err 2']
    assert not result.launcher_failed
    assert list(tmp_path.glob('.psij-ranks*')) == []


@pytest.mark.mpi
def test_processes_per_node(tmp_path: pathlib.Path, mpirun: str) -> None:
    spec = probe_spec(tmp_path, resources=ResourceSpecV1(process_count=2, processes_per_node=2))
    result = launch_mpi(spec, tmp_path, mpirun)
    assert result.exit_code == 0, result.log
    assert len(probe_records(tmp_path)) == 2


@pytest.mark.mpi
def test_a_failing_rank_is_a_job_failure_and_mpirun_messages_stay_in_the_log(
        tmp_path: pathlib.Path, mpirun: str) -> None:
    spec = probe_spec(tmp_path, resources=ResourceSpecV1(process_count=2),
                      environment={'PROBE_EXIT_CODES': '1=3', 'PROBE_DELAYS': '1=0.5'},
                      **marker_scripts(tmp_path))
    result = launch_mpi(spec, tmp_path, mpirun)
    assert result.exit_code == 3
    assert not result.launcher_failed
    assert marks(tmp_path) == ['pre', 'post job-exit=3 records=2']
    # Open MPI kills the other ranks at the first failure (hence rank 1's delay, which
    # lets rank 0 finish first) and comments on it: in the log, not in the job's output.
    assert set(result.stdout.splitlines()) <= {'out 0', 'out 1'}
    assert set(result.stderr.splitlines()) <= {'err 0', 'err 1'}
    if mpirun == 'mpirun.openmpi':
        assert 'non-zero' in result.log


@pytest.mark.mpi
def test_mpich_exit_code_is_the_first_failure_in_rank_order(tmp_path: pathlib.Path) -> None:
    # Hydra lets every rank finish (Open MPI aborts the others at the first failure).
    require_command('mpirun.mpich')
    spec = probe_spec(tmp_path, resources=ResourceSpecV1(process_count=3),
                      environment={'PROBE_EXIT_CODES': '1=3,2=5', 'PROBE_DELAYS': '1=0.3'})
    assert launch_mpi(spec, tmp_path, 'mpirun.mpich').exit_code == 3


@pytest.mark.mpi
def test_arguments_and_environment_reach_every_rank_verbatim(
        tmp_path: pathlib.Path, mpirun: str) -> None:
    spec = probe_spec(tmp_path, TRICKY_ARGUMENTS, resources=ResourceSpecV1(process_count=2),
                      environment={'TRICKY': TRICKY_VALUE})
    result = launch_mpi(spec, tmp_path, mpirun)
    assert result.exit_code == 0, result.log
    records = probe_records(tmp_path)
    assert len(records) == 2
    assert all(record['argv'] == TRICKY_ARGUMENTS for record in records)
    assert all(record['env']['TRICKY'] == TRICKY_VALUE for record in records)


@pytest.mark.mpi
def test_rank_streams_without_paths_go_to_the_launcher_log(
        tmp_path: pathlib.Path, mpirun: str) -> None:
    spec = probe_spec(tmp_path, resources=ResourceSpecV1(process_count=2),
                      stdout_path=None, stderr_path=None)
    result = launch_mpi(spec, tmp_path, mpirun)
    assert result.exit_code == 0, result.log
    assert {'out 0', 'out 1', 'err 0', 'err 1'} <= set(result.log.splitlines())


@pytest.mark.mpi
def test_mpirun_failing_to_start_is_a_launcher_failure(
        tmp_path: pathlib.Path, mpirun: str) -> None:
    spec = probe_spec(tmp_path, resources=ResourceSpecV1(process_count=2),
                      **marker_scripts(tmp_path))
    result = launch_mpi(spec, tmp_path, mpirun, **BROKEN_STARTUP[mpirun])
    assert result.exit_code != 0
    assert result.launcher_failed
    assert result.failure_message.startswith(f'{mpirun} failed with exit code')
    assert 'before starting any process: ' in result.failure_message
    assert probe_records(tmp_path) == []
    assert result.stdout == result.stderr == ''
    assert marks(tmp_path) == ['pre']
    [error_line] = [line for line in result.log.splitlines()
                    if line.startswith(LAUNCHER_ERROR_PREFIX)]
    assert len(error_line) < 2000


@pytest.mark.mpi
def test_open_mpi_unreachable_host_is_a_launcher_failure(tmp_path: pathlib.Path) -> None:
    require_command('mpirun.openmpi')
    spec = probe_spec(tmp_path, resources=ResourceSpecV1(process_count=2))
    result = launch('mpirun', spec, tmp_path, env={'PSIJ_MPIRUN': 'mpirun.openmpi'},
                    hosts=[socket.gethostname(), 'no-such-host.invalid'])
    assert result.exit_code != 0
    assert result.launcher_failed
    assert 'no-such-host' in result.failure_message
    assert probe_records(tmp_path) == []


@pytest.mark.mpi
def test_launcher_failure_goes_to_stderr_without_a_log(tmp_path: pathlib.Path,
                                                       mpirun: str) -> None:
    spec = probe_spec(tmp_path, resources=ResourceSpecV1(process_count=2))
    result = launch('mpirun', spec, tmp_path, use_log=False,
                    env={'PSIJ_MPIRUN': mpirun, **BROKEN_STARTUP[mpirun]})
    assert result.exit_code != 0
    assert result.stderr.splitlines()[-1].startswith(
        f'{LAUNCHER_ERROR_PREFIX}{mpirun} failed with exit code')


@pytest.mark.mpi
def test_mpirun_through_the_local_executor(tmp_path: pathlib.Path, mpirun: str) -> None:
    from psij import JobExecutor, JobExecutorConfig, JobState

    executor = JobExecutor.get_instance(
        'local', config=JobExecutorConfig(work_directory=tmp_path / 'work'))
    spec = probe_spec(tmp_path, ['a b'], resources=ResourceSpecV1(process_count=2),
                      launcher='mpirun', environment={'PSIJ_MPIRUN': mpirun})
    job = Job(spec)
    executor.submit(job)
    status = job.wait(timeout=60)
    assert status is not None and status.state == JobState.COMPLETED, status
    records = probe_records(tmp_path)
    assert [record['env']['PSIJ_RANK'] for record in records] == ['0', '1']
    assert all(record['argv'] == ['a b'] for record in records)
    assert sorted((tmp_path / 'out').read_text().splitlines()) == ['out 0', 'out 1']


@pytest.mark.mpi
def test_mpirun_start_failure_through_the_local_executor(
        tmp_path: pathlib.Path, mpirun: str) -> None:
    from psij import JobExecutor, JobExecutorConfig, JobState

    executor = JobExecutor.get_instance(
        'local', config=JobExecutorConfig(work_directory=tmp_path / 'work'))
    spec = probe_spec(tmp_path, resources=ResourceSpecV1(process_count=2), launcher='mpirun',
                      environment={'PSIJ_MPIRUN': mpirun, **BROKEN_STARTUP[mpirun]})
    job = Job(spec)
    executor.submit(job)
    status = job.wait(timeout=60)
    assert status is not None and status.state == JobState.FAILED
    assert status.message is not None and f'{mpirun} failed' in status.message

