"""The script each campaign job runs, run by the real bash, and how a job's end is decided
from its result file and the executor's status (psij.campaigns.job_script, outcome)."""

import os
import pathlib
import shlex
import subprocess
from typing import List, Optional, Tuple

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from psij.campaigns.expansion import Command
from psij.campaigns.job_script import SHELL, RunResult, parse_result, render_script
from psij.campaigns.map_format import MapLine
from psij.campaigns.outcome import settle
from psij.campaigns.records import COMPLETED, FAILED, CommandRecord, JobRecord
from psij.job_state import JobState
from psij.job_status import JobStatus


def run_script(directory: pathlib.Path, commands: List[str], pre: Optional[List[str]] = None,
               post: Optional[List[str]] = None, attempt: str = 'attempt-1'
               ) -> Tuple['subprocess.CompletedProcess[str]', RunResult]:
    """Render the script of job 07 with ``commands`` (map lines 10, 11...), run it as a job
    does, and return the process and its parsed result file."""
    result_path = directory / '07.result'
    script = render_script('07', str(directory), str(result_path),
                           [Command(10 + index, text) for index, text in enumerate(commands)],
                           [MapLine(2 + index, text) for index, text in enumerate(pre or [])],
                           [MapLine(5 + index, text) for index, text in enumerate(post or [])])
    path = directory / '07.sh'
    path.write_text(script)
    process = subprocess.run([SHELL, str(path), attempt], capture_output=True, text=True,
                             cwd=directory, timeout=60)
    parsed = parse_result(result_path.read_text())
    assert parsed is not None
    return process, parsed


def test_commands_run_one_after_another_and_a_failure_is_named(tmp_path: pathlib.Path
                                                                ) -> None:
    process, result = run_script(tmp_path, [
        'echo "one $PSIJ_CAMPAIGN_JOB $PSIJ_CAMPAIGN_LINE $GREETING"',
        'exit 3', 'echo three; cd /', 'echo "four in $(basename "$PWD")"'],
        pre=['GREETING=hello; cd "$PSIJ_CAMPAIGN_LOGS"'], post=['echo post'])
    assert process.returncode == 3
    # Variables and the directory from [pre] reach every command; a command's own cd does
    # not reach the next one (each runs in a subshell of its own).
    assert process.stdout.splitlines() == ['one 07 10 hello', 'three',
                                           f'four in {tmp_path.name}', 'post']
    assert process.stderr == 'psij campaign: command 2 of 4 (map line 11) exited with 3\n'
    assert result.attempt == 'attempt-1' and result.pid is not None
    assert result.commands == {1: 0, 2: 3, 3: 0, 4: 0}
    assert result.exit_code == 3 and result.complete and result.failed_setup is None
    assert result.started is not None and result.ended is not None
    assert result.started <= result.ended


def test_a_failed_pre_line_runs_no_command_and_no_post_line(tmp_path: pathlib.Path) -> None:
    process, result = run_script(tmp_path, ['echo never'], pre=['true', 'false', 'echo no'],
                                 post=['echo no post'])
    assert (process.returncode, process.stdout) == (1, '')
    assert 'psij campaign: [pre] map line 3 exited with 1' in process.stderr
    assert result.commands == {} and result.failed_setup == ('pre', 3, 1)
    assert result.exit_code == 1


def test_a_failed_post_line_fails_the_job_and_stops_the_next_ones(tmp_path: pathlib.Path
                                                                  ) -> None:
    process, result = run_script(tmp_path, ['true'], post=['exit 4', 'echo no'])
    assert (process.returncode, process.stdout) == (4, '')
    assert result.commands == {1: 0} and result.failed_setup == ('post', 5, 4)


def test_a_syntax_error_fails_its_command_only(tmp_path: pathlib.Path) -> None:
    process, result = run_script(tmp_path, ['echo "unclosed', 'echo fine $1 $#'])
    assert process.returncode == 2
    # The script's own argument (the attempt) is not the commands' $1.
    assert process.stdout == 'fine 0\n'
    assert result.commands == {1: 2, 2: 0}


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(value=st.text(st.characters(exclude_categories=['Cs'], exclude_characters='\x00'),
                     max_size=30))
def test_a_command_is_run_exactly_as_written(tmp_path: pathlib.Path, value: str) -> None:
    command = f'printf %s {shlex.quote(value)}'
    if '\n' in command or '\r' in command:
        return  # a map line holds no line break
    process, result = run_script(tmp_path, [command])
    assert process.stdout == value
    assert result.commands == {1: 0}


def test_parse_result_ignores_a_line_being_written_and_foreign_lines() -> None:
    assert parse_result('') is None
    assert parse_result('attempt abc') is None  # not even its first line is whole yet
    result = parse_result('attempt abc\npid 12\nhost n1\nnonsense\ncommand 1 0\ncommand x y\n'
                          'command 2 1')
    assert result is not None
    assert (result.attempt, result.pid, result.host) == ('abc', 12, 'n1')
    assert result.commands == {1: 0} and not result.complete
    done = parse_result('attempt abc\nstarted 10,5\ncommand 1 0\nexit 0 11,25\n')
    assert done is not None and done.complete and (done.started, done.ended) == (10.5, 11.25)


# --- the outcome rule ----------------------------------------------------------------------


def record(commands: int) -> JobRecord:
    return JobRecord(id='1', commands=[CommandRecord(20 + index, f'c{index}')
                                       for index in range(commands)],
                     executor='local', stdout='o', stderr='e', script='s', result='r',
                     state='running', job_id='a')


def test_a_complete_result_decides_even_when_the_executor_cannot_tell() -> None:
    job = record(3)
    unknown = JobStatus(JobState.FAILED, message='outcome unknown: the submitter ended')
    settle(job, unknown, RunResult('a', commands={1: 0, 2: 5, 3: 7}, exit_code=5, ended=9.0),
           100.0)
    assert (job.state, job.exit_code, job.failed_line) == (FAILED, 5, 21)
    assert job.message == 'command 2 of 3 (map line 21) exited with 5; 2 of 3 commands failed'
    assert [command.exit_code for command in job.commands] == [0, 5, 7]
    assert job.times['ended'] == 9.0
    fine = record(1)
    settle(fine, unknown, RunResult('a', commands={1: 0}, exit_code=0, ended=9.0), 100.0)
    assert (fine.state, fine.exit_code, fine.message) == (COMPLETED, 0, None)


def test_what_the_executor_adds_to_a_complete_result_is_kept() -> None:
    job = record(1)
    settle(job, JobStatus(JobState.FAILED, exit_code=143,
                          message='time limit of 0:01:00 reached'),
           RunResult('a', commands={1: 143}, exit_code=143, ended=3.0), 100.0)
    assert job.message == 'map line 20 exited with 143; time limit of 0:01:00 reached'
    plain = record(1)
    settle(plain, JobStatus(JobState.FAILED, exit_code=3, message='exit code 3'),
           RunResult('a', commands={1: 3}, exit_code=3, ended=3.0), 100.0)
    assert plain.message == 'map line 20 exited with 3'


def test_without_a_result_the_executor_decides() -> None:
    job = record(2)
    settle(job, JobStatus(JobState.COMPLETED, time=5.0, exit_code=0), None, 100.0)
    assert job.state == COMPLETED and [c.exit_code for c in job.commands] == [0, 0]
    limited = record(3)
    settle(limited, JobStatus(JobState.FAILED, exit_code=143, message='time limit reached'),
           RunResult('a', commands={1: 0}), 100.0)
    assert (limited.state, limited.exit_code) == (FAILED, 143)
    assert limited.message == 'time limit reached; 1 of 3 commands had ended'
    assert [c.exit_code for c in limited.commands] == [0, None, None]


def test_a_cancel_outranks_the_result_file() -> None:
    job = record(1)
    settle(job, JobStatus(JobState.CANCELED, message='canceled by the user'),
           RunResult('a', commands={1: 0}, exit_code=0, ended=1.0), 100.0)
    assert job.state == FAILED and job.message == 'canceled by the user'
    # A cancel whose message does not say so is named.
    other = record(1)
    settle(other, JobStatus(JobState.CANCELED, message='killed by SIGTERM'), None, 100.0)
    assert other.state == FAILED and other.message == 'canceled; killed by SIGTERM'


def test_a_job_gone_without_status_or_result_is_a_failure_saying_so() -> None:
    job = record(1)
    settle(job, None, RunResult('a'), 100.0)
    assert (job.state, job.exit_code) == (FAILED, None)
    assert job.message == 'the job ended without finishing its result file'
    assert job.times['ended'] == 100.0


def test_the_script_is_a_shell_script_a_person_can_read(tmp_path: pathlib.Path) -> None:
    text = render_script('3', '/logs', '/logs/3.result', [Command(4, "echo 'x'")], [], [])
    assert text.startswith('#!/bin/bash\n# Job 3 of the psij campaign in /logs: map line(s) 4.')
    assert "eval 'echo '\"'\"'x'\"'\"''" in text
    assert os.access(SHELL, os.X_OK)
