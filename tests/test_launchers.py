"""The launchers: single, multiple, and srun/aprun/jsrun through fake launch commands.

Launch commands are run for real, the way an executor runs them (`doubles.fake_executor`),
with `doubles.probe` as the job so that each process records what it received.
mpirun has its own file, test_mpirun.py.
"""

import json
import os
import pathlib
import shutil
import sys
from typing import List

import pytest
from doubles import fake_launcher
from doubles.fake_executor import LaunchResult, launch
from doubles.probe_jobs import (
    PROBE,
    marker_scripts,
    marks,
    probe_records,
    probe_spec,
    write_script,
)
from real_tools import require_slurm

from psij import InvalidJobException, Job, JobSpec, Launcher, ResourceSpecV1
from psij.launcher import LAUNCHER_ERROR_PREFIX

ALL_LAUNCHERS = {
    'single': 'SingleLauncher',
    'multiple': 'MultipleLauncher',
    'mpirun': 'MpirunLauncher',
    'srun': 'SrunLauncher',
    'aprun': 'AprunLauncher',
    'jsrun': 'JsrunLauncher',
}


# --- the plugins ---------------------------------------------------------------------------

@pytest.mark.parametrize('name', sorted(ALL_LAUNCHERS))
def test_every_launcher_is_installed_with_its_name_and_version(name: str) -> None:
    launcher = Launcher.get_instance(name)
    assert type(launcher).__name__ == ALL_LAUNCHERS[name]
    assert launcher.name == name
    assert launcher.version == '0.1.0'
    assert name in Launcher.get_launcher_names()


@pytest.mark.parametrize('name', sorted(ALL_LAUNCHERS))
def test_a_job_without_executable_is_refused(name: str) -> None:
    with pytest.raises(InvalidJobException, match='executable'):
        Launcher.get_instance(name).get_launch_command(Job(JobSpec()))
    with pytest.raises(InvalidJobException, match='spec'):
        Launcher.get_instance(name).get_launch_command(Job())


@pytest.mark.parametrize('name', sorted(ALL_LAUNCHERS))
def test_every_script_launcher_runs_a_script_that_exists(name: str) -> None:
    spec = JobSpec('true', pre_launch='/p')
    argv = Launcher.get_instance(name).get_launch_command(Job(spec), '/log')
    assert argv[0] == 'bash'
    assert pathlib.Path(argv[1]).is_file()
    assert argv[-2:] == ['--', 'true']


# --- single --------------------------------------------------------------------------------

def test_single_without_pre_or_post_launch_is_the_bare_command() -> None:
    arguments = ['-x', '', 'a b', '$HOME', '`id`', 'line\nbreak', 'é']
    spec = JobSpec('/bin/echo', arguments, resources=ResourceSpecV1(process_count=4))
    argv = Launcher.get_instance('single').get_launch_command(Job(spec), '/some/log')
    assert argv == ['/bin/echo', *arguments]


def test_single_runs_pre_launch_the_job_and_post_launch_once_each(tmp_path: pathlib.Path) -> None:
    spec = probe_spec(tmp_path, ['one', 'two words'], environment={'PROBE_EXIT_CODES': 'none=7'},
                      **marker_scripts(tmp_path))
    result = launch('single', spec, tmp_path)
    assert result.exit_code == 7
    [record] = probe_records(tmp_path)
    assert record['argv'] == ['one', 'two words']
    assert record['env']['FROM_PRE_LAUNCH'] == f'set by pre {os.environ["HOME"]}'
    assert 'PSIJ_RANK' not in record['env']
    assert marks(tmp_path) == ['pre', 'post job-exit=7 records=1']
    assert result.stdout == 'out none\n'
    assert result.stderr == 'err none\n'
    assert not result.launcher_failed


def test_pre_and_post_launch_see_no_positional_parameters(tmp_path: pathlib.Path) -> None:
    pre = write_script(tmp_path / 'pre.sh', 'echo "pre args: $#" >> marks\n')
    post = write_script(tmp_path / 'post.sh', 'echo "post args: $#" >> marks\n')
    spec = JobSpec('true', ['a', 'b'], directory=tmp_path, pre_launch=pre, post_launch=post)
    assert launch('single', spec, tmp_path).exit_code == 0
    assert marks(tmp_path) == ['pre args: 0', 'post args: 0']


def test_relative_pre_launch_path_is_found_in_the_job_directory(
        tmp_path: pathlib.Path) -> None:
    write_script(tmp_path / 'pre.sh', 'cd / ; echo pre >> "$OLDPWD/marks"\n')
    write_script(tmp_path / 'post.sh', 'echo post >> "$OLDPWD/marks"\n')
    spec = JobSpec('true', directory=tmp_path, pre_launch='pre.sh', post_launch='post.sh')
    result = launch('single', spec, tmp_path)
    assert result.exit_code == 0, result.log
    assert marks(tmp_path) == ['pre', 'post']


def test_failing_pre_launch_stops_the_job_and_is_a_launcher_failure(
        tmp_path: pathlib.Path) -> None:
    pre = write_script(tmp_path / 'pre.sh', 'echo pre >> marks\nfalse\nreturn 3\n')
    spec = probe_spec(tmp_path, pre_launch=pre, post_launch=marker_scripts(tmp_path)['post_launch'])
    result = launch('single', spec, tmp_path)
    assert result.exit_code == 3
    assert probe_records(tmp_path) == []
    assert marks(tmp_path) == ['pre']
    assert result.launcher_failed
    assert 'pre_launch' in result.failure_message and str(pre) in result.failure_message
    assert 'exit code 3' in result.failure_message
    assert result.stdout == ''


@pytest.mark.parametrize('body, expected_code, expected_text', [
    ('exit 4', 4, 'exited with code 4'),
    ('exit 0', 1, "called 'exit 0'"),
    ('set -e; false; echo never >> marks', 1, 'exited with code 1'),
])
def test_pre_launch_that_exits_the_shell_is_a_launcher_failure(
        tmp_path: pathlib.Path, body: str, expected_code: int, expected_text: str) -> None:
    pre = write_script(tmp_path / 'pre.sh', body + '\n')
    result = launch('single', probe_spec(tmp_path, pre_launch=pre), tmp_path)
    assert result.exit_code == expected_code
    assert probe_records(tmp_path) == []
    assert marks(tmp_path) == []
    assert expected_text in result.failure_message


def test_missing_pre_launch_script_is_a_launcher_failure(tmp_path: pathlib.Path) -> None:
    result = launch('single', probe_spec(tmp_path, pre_launch=tmp_path / 'nowhere.sh'),
                    tmp_path)
    assert result.exit_code == 1
    assert probe_records(tmp_path) == []
    assert 'does not exist' in result.failure_message


def test_failing_post_launch_after_a_successful_job_is_a_launcher_failure(
        tmp_path: pathlib.Path) -> None:
    post = write_script(tmp_path / 'post.sh', 'return 5\n')
    result = launch('single', probe_spec(tmp_path, post_launch=post), tmp_path)
    assert result.exit_code == 5
    assert len(probe_records(tmp_path)) == 1
    assert 'post_launch' in result.failure_message
    assert 'after the job succeeded' in result.failure_message


def test_failing_post_launch_after_a_failed_job_keeps_the_job_exit_code(
        tmp_path: pathlib.Path) -> None:
    post = write_script(tmp_path / 'post.sh', 'exit 5\n')
    spec = probe_spec(tmp_path, post_launch=post, environment={'PROBE_EXIT_CODES': 'none=2'})
    result = launch('single', spec, tmp_path)
    assert result.exit_code == 2
    assert not result.launcher_failed
    assert 'already failed with exit code 2' in result.log


def test_post_launch_exit_0_keeps_the_job_exit_code(tmp_path: pathlib.Path) -> None:
    post = write_script(tmp_path / 'post.sh', 'exit 0\n')
    spec = probe_spec(tmp_path, post_launch=post, environment={'PROBE_EXIT_CODES': 'none=6'})
    result = launch('single', spec, tmp_path)
    assert result.exit_code == 6
    assert not result.launcher_failed


def test_missing_post_launch_script_is_a_launcher_failure(tmp_path: pathlib.Path) -> None:
    result = launch('single', probe_spec(tmp_path, post_launch=tmp_path / 'nowhere.sh'),
                    tmp_path)
    assert result.exit_code == 1
    assert len(probe_records(tmp_path)) == 1
    assert 'post_launch' in result.failure_message
    assert 'does not exist' in result.failure_message


def test_without_a_log_file_launcher_errors_go_to_stderr(tmp_path: pathlib.Path) -> None:
    pre = write_script(tmp_path / 'pre.sh', 'return 9\n')
    result = launch('single', probe_spec(tmp_path, pre_launch=pre), tmp_path, use_log=False)
    assert result.exit_code == 9
    assert result.log == ''
    assert result.stderr.startswith(LAUNCHER_ERROR_PREFIX + 'pre_launch script')


def test_single_runs_the_program_even_if_a_function_has_its_name(
        tmp_path: pathlib.Path) -> None:
    # pre_launch defines a shell function called echo; the job must still run the program.
    pre = write_script(tmp_path / 'pre.sh', 'echo() { printf "function\\n"; }\n')
    spec = JobSpec('echo', ['a  b'], directory=tmp_path, pre_launch=pre,
                   stdout_path=tmp_path / 'out')
    result = launch('single', spec, tmp_path)
    assert result.exit_code == 0
    assert result.stdout == 'a  b\n'


# --- multiple ------------------------------------------------------------------------------

def test_multiple_runs_copies_in_parallel_with_rank_variables(tmp_path: pathlib.Path) -> None:
    spec = probe_spec(tmp_path, ['arg'], resources=ResourceSpecV1(process_count=3),
                      environment={'PROBE_BARRIER': str(tmp_path / 'barrier')},
                      **marker_scripts(tmp_path))
    result = launch('multiple', spec, tmp_path)
    assert result.exit_code == 0, result.log
    records = probe_records(tmp_path)
    assert [record['env']['PSIJ_RANK'] for record in records] == ['0', '1', '2']
    assert {record['env']['PSIJ_PROCESS_COUNT'] for record in records} == {'3'}
    assert all(record['barrier_passed'] for record in records)
    assert all(record['argv'] == ['arg'] for record in records)
    assert all(record['env']['FROM_PRE_LAUNCH'].startswith('set by pre') for record in records)
    assert marks(tmp_path) == ['pre', 'post job-exit=0 records=3']
    assert sorted(result.stdout.splitlines()) == ['out 0', 'out 1', 'out 2']
    assert sorted(result.stderr.splitlines()) == ['err 0', 'err 1', 'err 2']


def test_multiple_exit_code_is_the_first_failure_in_rank_order(tmp_path: pathlib.Path) -> None:
    # Rank 2 fails first in time; rank 1 still wins because it comes first in rank order.
    spec = probe_spec(tmp_path, resources=ResourceSpecV1(process_count=4),
                      environment={'PROBE_EXIT_CODES': '1=3,2=5', 'PROBE_DELAYS': '1=0.3'})
    result = launch('multiple', spec, tmp_path)
    assert result.exit_code == 3
    assert not result.launcher_failed


def test_multiple_gives_stdin_to_rank_0_only(tmp_path: pathlib.Path) -> None:
    (tmp_path / 'in').write_text('input text\n')
    spec = probe_spec(tmp_path, resources=ResourceSpecV1(process_count=2),
                      stdin_path=tmp_path / 'in', environment={'PROBE_READ_STDIN': '1'})
    assert launch('multiple', spec, tmp_path).exit_code == 0
    assert [record['stdin'] for record in probe_records(tmp_path)] == ['input text\n', '']


def test_multiple_uses_process_count_from_nodes_and_processes_per_node(
        tmp_path: pathlib.Path) -> None:
    spec = probe_spec(tmp_path, resources=ResourceSpecV1(node_count=2, processes_per_node=2))
    assert launch('multiple', spec, tmp_path).exit_code == 0
    assert len(probe_records(tmp_path)) == 4


def test_multiple_failing_pre_launch_starts_no_copy(tmp_path: pathlib.Path) -> None:
    pre = write_script(tmp_path / 'pre.sh', 'return 2\n')
    spec = probe_spec(tmp_path, resources=ResourceSpecV1(process_count=2), pre_launch=pre)
    result = launch('multiple', spec, tmp_path)
    assert result.exit_code == 2
    assert probe_records(tmp_path) == []
    assert result.launcher_failed


# --- srun, aprun, jsrun through fake launch commands --------------------------------------

@pytest.fixture
def fake_bin(tmp_path: pathlib.Path) -> pathlib.Path:
    """A directory holding fake srun, aprun and jsrun."""
    directory = tmp_path / 'fake bin'
    for name in fake_launcher.RANK_VARIABLES:
        fake_launcher.install(directory, name)
    return directory


def launch_with_fake(name: str, spec: JobSpec, directory: pathlib.Path,
                     fake_bin: pathlib.Path, **env: str) -> LaunchResult:
    env = {'PATH': f'{fake_bin}{os.pathsep}{os.environ["PATH"]}',
           'FAKE_LAUNCHER_RECORD': str(directory / 'launcher-argv'), **env}
    return launch(name, spec, directory, env=env)


def recorded_launcher_argv(directory: pathlib.Path) -> List[str]:
    [line] = (directory / 'launcher-argv').read_text().splitlines()
    argv: List[str] = json.loads(line)
    return argv


def launcher_words(argv: List[str]) -> List[str]:
    """The launch command part of a recorded argv: everything before the rank wrapper."""
    return argv[:argv.index('bash')]


def job_command(argv: List[str]) -> List[str]:
    return argv[argv.index('--') + 1:]


@pytest.mark.parametrize('name, resources, expected', [
    ('srun', ResourceSpecV1(process_count=2), ['srun', '-n', '2']),
    ('srun', ResourceSpecV1(process_count=2, processes_per_node=2, cpu_cores_per_process=3),
     ['srun', '-n', '2', '--ntasks-per-node=2', '--cpus-per-task=3']),
    ('aprun', ResourceSpecV1(process_count=2), ['aprun', '-n', '2']),
    ('aprun', ResourceSpecV1(node_count=1, processes_per_node=2, cpu_cores_per_process=4),
     ['aprun', '-n', '2', '-N', '2', '-d', '4']),
    ('jsrun', ResourceSpecV1(process_count=2), ['jsrun', '-n', '2', '-a', '1', '-c', '1']),
    ('jsrun', ResourceSpecV1(process_count=2, processes_per_node=2, cpu_cores_per_process=7,
                             gpu_cores_per_process=1),
     ['jsrun', '-n', '2', '-a', '1', '-c', '7', '-g', '1', '-r', '2']),
])
def test_parallel_launcher_runs_the_expected_command_and_every_rank(
        tmp_path: pathlib.Path, fake_bin: pathlib.Path, name: str, resources: ResourceSpecV1,
        expected: List[str]) -> None:
    arguments = ['-n', 'a b', '', '$X']
    spec = probe_spec(tmp_path, arguments, resources=resources, **marker_scripts(tmp_path))
    result = launch_with_fake(name, spec, tmp_path, fake_bin)
    assert result.exit_code == 0, result.log
    argv = recorded_launcher_argv(tmp_path)
    assert launcher_words(argv) == expected
    assert job_command(argv) == [sys.executable, PROBE, str(tmp_path / 'records'), *arguments]
    records = probe_records(tmp_path)
    assert [record['env']['PSIJ_RANK'] for record in records] == ['0', '1']
    assert all(record['argv'] == arguments for record in records)
    assert all(record['env']['PSIJ_PROCESS_COUNT'] == '2' for record in records)
    assert all('FROM_PRE_LAUNCH' in record['env'] for record in records)
    assert marks(tmp_path) == ['pre', 'post job-exit=0 records=2']
    assert sorted(result.stdout.splitlines()) == ['out 0', 'out 1']
    assert sorted(result.stderr.splitlines()) == ['err 0', 'err 1']


def test_rank_output_is_appended_between_pre_and_post_launch_output(
        tmp_path: pathlib.Path, fake_bin: pathlib.Path) -> None:
    # Ranks append to the job's files through descriptors of their own; the launcher's own
    # writes (pre/post_launch) must not overwrite them.
    pre = write_script(tmp_path / 'pre.sh', 'echo "pre output"\n')
    post = write_script(tmp_path / 'post.sh', 'echo "post output"\n')
    spec = probe_spec(tmp_path, resources=ResourceSpecV1(process_count=2),
                      pre_launch=pre, post_launch=post)
    result = launch_with_fake('srun', spec, tmp_path, fake_bin)
    lines = result.stdout.splitlines()
    assert lines[0] == 'pre output'
    assert sorted(lines[1:3]) == ['out 0', 'out 1']
    assert lines[3:] == ['post output']


def test_parallel_launcher_output_goes_to_the_log_not_the_job(
        tmp_path: pathlib.Path, fake_bin: pathlib.Path) -> None:
    spec = probe_spec(tmp_path, resources=ResourceSpecV1(process_count=2),
                      environment={'PROBE_EXIT_CODES': '1=4'})
    # The fake srun prints nothing on success; a wrapper that talks shows where it goes.
    noisy = fake_bin / 'srun'
    noisy.write_text(noisy.read_text().replace('exec ', 'echo "srun: noise"; exec ', 1))
    result = launch_with_fake('srun', spec, tmp_path, fake_bin)
    assert result.exit_code == 4
    assert 'srun: noise' in result.log
    assert 'noise' not in result.stdout + result.stderr
    assert not result.launcher_failed


def test_rank_streams_without_paths_go_to_the_launcher_log(
        tmp_path: pathlib.Path, fake_bin: pathlib.Path) -> None:
    spec = probe_spec(tmp_path, resources=ResourceSpecV1(process_count=2),
                      stdout_path=None, stderr_path=None)
    result = launch_with_fake('srun', spec, tmp_path, fake_bin)
    assert result.exit_code == 0
    assert sorted(line for line in result.log.splitlines() if line[:3] in ('out', 'err')) == [
        'err 0', 'err 1', 'out 0', 'out 1']


def test_parallel_launcher_exit_code_is_the_first_failure_in_rank_order(
        tmp_path: pathlib.Path, fake_bin: pathlib.Path) -> None:
    spec = probe_spec(tmp_path, resources=ResourceSpecV1(process_count=3),
                      environment={'PROBE_EXIT_CODES': '1=3,2=5', 'PROBE_DELAYS': '1=0.3'})
    result = launch_with_fake('aprun', spec, tmp_path, fake_bin)
    assert result.exit_code == 3
    assert not result.launcher_failed


@pytest.mark.parametrize('name', ['srun', 'aprun', 'jsrun'])
def test_missing_parallel_launcher_is_a_launcher_failure(
        tmp_path: pathlib.Path, name: str) -> None:
    # A PATH with bash alone, since this machine may have a real srun.
    only_bash = tmp_path / 'only-bash'
    only_bash.mkdir()
    (only_bash / 'bash').symlink_to(shutil.which('bash') or '/bin/bash')
    spec = probe_spec(tmp_path, resources=ResourceSpecV1(process_count=2))
    result = launch(name, spec, tmp_path, env={'PATH': str(only_bash)})
    assert result.exit_code == 127
    assert probe_records(tmp_path) == []
    assert f"'{name}' was not found" in result.failure_message


def test_parallel_launcher_that_starts_nothing_is_a_launcher_failure(
        tmp_path: pathlib.Path, fake_bin: pathlib.Path) -> None:
    post = write_script(tmp_path / 'post.sh', 'echo post >> marks\n')
    spec = probe_spec(tmp_path, resources=ResourceSpecV1(process_count=2), post_launch=post)
    result = launch_with_fake('srun', spec, tmp_path, fake_bin,
                              FAKE_LAUNCHER_FAIL='Unable to allocate resources')
    assert result.exit_code == 1
    assert probe_records(tmp_path) == []
    assert result.failure_message.startswith('srun failed with exit code 1 before starting')
    assert 'srun: error: Unable to allocate resources' in result.failure_message
    assert result.stdout == result.stderr == ''
    assert marks(tmp_path) == []


def test_parallel_launcher_failure_is_quoted_on_stderr_without_a_log(
        tmp_path: pathlib.Path, fake_bin: pathlib.Path) -> None:
    spec = probe_spec(tmp_path, resources=ResourceSpecV1(process_count=2))
    env = {'PATH': f'{fake_bin}{os.pathsep}{os.environ["PATH"]}',
           'FAKE_LAUNCHER_FAIL': 'no nodes'}
    result = launch('srun', spec, tmp_path, env=env, use_log=False)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert 'srun: error: no nodes' in lines
    assert lines[-1].startswith(LAUNCHER_ERROR_PREFIX + 'srun failed with exit code 1')


@pytest.mark.parametrize('name', ['single', 'multiple', 'srun'])
def test_paths_with_shell_special_characters(tmp_path: pathlib.Path, fake_bin: pathlib.Path,
                                            name: str) -> None:
    directory = tmp_path / 'job dir $HOME `id` \'a\' "b" é\nx -n'
    directory.mkdir()
    spec = probe_spec(directory, resources=ResourceSpecV1(process_count=2),
                      **marker_scripts(directory))
    result = launch_with_fake(name, spec, directory, fake_bin)
    assert result.exit_code == 0, result.log
    copies = 1 if name == 'single' else 2
    assert len(probe_records(directory)) == copies
    assert marks(directory) == ['pre', f'post job-exit=0 records={copies}']
    assert len(result.stdout.splitlines()) == copies


def test_no_status_directory_is_left_behind(tmp_path: pathlib.Path,
                                            fake_bin: pathlib.Path) -> None:
    spec = probe_spec(tmp_path, resources=ResourceSpecV1(process_count=2))
    assert launch_with_fake('srun', spec, tmp_path, fake_bin).exit_code == 0
    assert list(tmp_path.glob('.psij-ranks*')) == []


# --- srun on a real Slurm, when there is one ----------------------------------------------

def test_real_srun_runs_every_rank(tmp_path: pathlib.Path) -> None:
    require_slurm()
    spec = probe_spec(tmp_path, ['a b'], resources=ResourceSpecV1(process_count=2),
                      environment={'PROBE_EXIT_CODES': '1=3'}, **marker_scripts(tmp_path))
    result = launch('srun', spec, tmp_path)
    assert result.exit_code == 3, result.log
    records = probe_records(tmp_path)
    assert [record['env']['PSIJ_RANK'] for record in records] == ['0', '1']
    assert all(record['argv'] == ['a b'] for record in records)
    assert all('FROM_PRE_LAUNCH' in record['env'] for record in records)
    assert marks(tmp_path) == ['pre', 'post job-exit=3 records=2']
    assert sorted(result.stdout.splitlines()) == ['out 0', 'out 1']
    assert sorted(result.stderr.splitlines()) == ['err 0', 'err 1']
    assert not result.launcher_failed


def test_real_srun_refused_is_a_launcher_failure(tmp_path: pathlib.Path) -> None:
    require_slurm()
    spec = probe_spec(tmp_path, resources=ResourceSpecV1(process_count=2))
    result = launch('srun', spec, tmp_path, env={'SLURM_PARTITION': 'no-such-partition'})
    assert result.exit_code != 0
    assert result.launcher_failed
    assert result.failure_message.startswith('srun failed with exit code')
    assert 'partition' in result.failure_message
    assert probe_records(tmp_path) == []


# --- through the local executor ------------------------------------------------------------

def test_multiple_through_the_local_executor(tmp_path: pathlib.Path) -> None:
    from psij import JobExecutor, JobExecutorConfig, JobState

    executor = JobExecutor.get_instance(
        'local', config=JobExecutorConfig(work_directory=tmp_path / 'work'))
    spec = probe_spec(tmp_path, ['x y'], resources=ResourceSpecV1(process_count=3),
                      launcher='multiple', environment={'PROBE_EXIT_CODES': '2=3'},
                      **marker_scripts(tmp_path))
    job = Job(spec)
    executor.submit(job)
    status = job.wait(timeout=30)
    assert status is not None and status.state == JobState.FAILED
    assert status.exit_code == 3
    assert [record['env']['PSIJ_RANK'] for record in probe_records(tmp_path)] == ['0', '1', '2']
    assert marks(tmp_path) == ['pre', 'post job-exit=3 records=3']


def test_failing_pre_launch_through_the_local_executor(tmp_path: pathlib.Path) -> None:
    from psij import JobExecutor, JobExecutorConfig, JobState

    executor = JobExecutor.get_instance(
        'local', config=JobExecutorConfig(work_directory=tmp_path / 'work'))
    pre = write_script(tmp_path / 'pre.sh', 'return 4\n')
    job = Job(probe_spec(tmp_path, launcher='multiple', pre_launch=pre))
    executor.submit(job)
    status = job.wait(timeout=30)
    assert status is not None and status.state == JobState.FAILED
    assert status.message is not None and 'pre_launch' in status.message
    assert probe_records(tmp_path) == []
