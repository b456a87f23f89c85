"""``psij campaign`` with the local executor, as a user runs it (the installed ``psij``, real
processes): submit, info, grouping, the cap on jobs in flight, bad input, the folder lock,
signals, and the docs of every option."""

import os
import pathlib
import pty
import re
import signal
import subprocess
import time

import pytest
from test_campaign_support import campaign, most_in_flight, ran, records, states, write_map
from test_cli_support import (
    BAD_SPEC,
    INTERRUPTED,
    NO_INPUT,
    PSIJ,
    REPO,
    TIMEOUT,
    USAGE,
    assert_one_error_line,
    eventually,
    psij,
    psij_environment,
)

# --- a whole campaign ----------------------------------------------------------------------

SWEEP = '''# a sweep over seeds and files
[pre]
export GREETING=hello
[post]
echo "post of $PSIJ_CAMPAIGN_JOB"
[resources]
cpu_cores_per_process = 1
[attributes]
duration = 5:00
[environment]
SUFFIX = a b
[jobs]
echo "$GREETING {{?seed:1,2}} {{file:names.txt}} $SUFFIX" > out-{{?=seed}}.txt
sh -c 'exit 3' {{glob:data/*.csv}}
'''


def test_submit_runs_every_command_and_info_shows_the_records(
        work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    (tmp_path / 'names.txt').write_text('x\n')
    (tmp_path / 'data').mkdir()
    (tmp_path / 'data' / 'a.csv').write_text('')
    write_map(tmp_path, SWEEP)
    result = campaign(work_dir, tmp_path, 'submit', 'jobs.map', '--logs', 'logs',
                      '--max-running', '2')
    assert result.returncode == 3, str(result)  # the first job that failed decides
    lines = result.stdout.splitlines()
    assert lines[0] == (f'psij campaign: 3 jobs (3 commands) on local, at most 2 in flight; '
                        f'logs in {tmp_path / "logs"}')
    assert '3 failed exit=3 (map line 14 exited with 3)' in lines
    assert lines[-2] == 'psij campaign: 3 jobs: completed 2, failed 1'
    assert (tmp_path / 'out-1.txt').read_text() == 'hello 1 x a b\n'
    assert (tmp_path / 'logs' / '1.out').read_text() == 'post of 1\n'
    jobs = records(tmp_path / 'logs')
    assert [job['state'] for job in jobs] == ['completed', 'completed', 'failed']
    failed = jobs[2]
    assert failed['commands'] == [{'line': 14, 'command': "sh -c 'exit 3' data/a.csv",
                                   'exit_code': 3}]
    assert (failed['exit_code'], failed['failed_line'], failed['lines']) == (3, 14, [14])
    assert failed['executor'] == 'local' and failed['native_id'].isdigit()
    assert failed['stdout'] == str(tmp_path / 'logs' / '3.out')
    assert set(failed['times']) == {'submitted', 'queued', 'started', 'ended'}
    assert failed['job_id'] and failed['attempts'] == []

    table = campaign(work_dir, tmp_path, 'info', '--logs', 'logs', 'state', 'exit_code',
                     'commands.line')
    assert table.stdout.splitlines() == [
        'id  state      exit_code  commands.line', '1   completed  0          13',
        '2   completed  0          13', '3   failed     3          14']

    # Without fields: a map of the commands, so the failed ones make a new campaign.
    retry = campaign(work_dir, tmp_path, 'info', '--logs', 'logs', '--status', 'failed')
    assert retry.stdout == ('[pre]\nexport GREETING=hello\n[post]\necho "post of '
                            '$PSIJ_CAMPAIGN_JOB"\n[resources]\ncpu_cores_per_process = 1\n'
                            '[attributes]\nduration = 5:00\n[environment]\nSUFFIX = a b\n'
                            "[jobs]\nsh -c 'exit 3' data/a.csv\n")
    write_map(tmp_path, retry.stdout, 'retry.map')
    again = campaign(work_dir, tmp_path, 'submit', 'retry.map', '--logs', 'retry', '--json')
    assert again.returncode == 3
    summary = again.json()
    assert summary['counts']['failed'] == 1 and summary['jobs'] == 1
    assert summary['failed'] == ['1'] and summary['stopped'] is None


def test_grouped_commands_run_in_one_job_and_the_failed_one_is_named(
        work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    write_map(tmp_path, 'echo {{1,2,3,4,5}} >> ran.txt; [ {{?=n}} != 2 ] || exit 7\n'
                        .replace('{{1,2,3,4,5}}', '{{?n:1,2,3,4,5}}'))
    result = campaign(work_dir, tmp_path, 'submit', 'jobs.map', '--logs', 'logs',
                      '--grouping', '3')
    assert result.returncode == 7, str(result)
    assert ran(tmp_path / 'ran.txt') == ['1', '2', '3', '4', '5']
    first, second = records(tmp_path / 'logs')
    assert first['state'] == 'failed' and first['exit_code'] == 7
    assert first['message'] == 'command 2 of 3 (map line 1) exited with 7; 1 of 3 commands failed'
    assert [command['exit_code'] for command in first['commands']] == [0, 7, 0]
    assert second['state'] == 'completed' and len(second['commands']) == 2
    assert 'psij campaign: command 2 of 3 (map line 1) exited with 7' in (
        tmp_path / 'logs' / '1.err').read_text()
    # The map of the failed job holds only its command that did not succeed.
    retry = campaign(work_dir, tmp_path, 'info', '--logs', 'logs', '--status', 'failed')
    assert retry.stdout == 'echo 2 >> ran.txt; [ 2 != 2 ] || exit 7\n'


def test_never_more_jobs_in_flight_than_max_running(work_dir: pathlib.Path,
                                                    tmp_path: pathlib.Path) -> None:
    write_map(tmp_path, 'sleep 0.3; echo {{1,2,3,4,5,6,7,8,9}}\n')
    result = campaign(work_dir, tmp_path, 'submit', 'jobs.map', '--logs', 'logs',
                      '--max-running', '3')
    assert result.returncode == 0, str(result)
    jobs = records(tmp_path / 'logs')
    assert most_in_flight(jobs) == 3
    assert all(job['state'] == 'completed' for job in jobs)


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize('text,status,fragment', [
    ('[resources]\ncores = 2\n[jobs]\necho fine > ran.txt\n', BAD_SPEC,
     "jobs.map:2: [resources]: unknown key 'cores'; allowed: node_count"),
    ('echo fine > ran.txt\necho {{?a:1}} {{?=b}}\n', BAD_SPEC,
     "jobs.map:2: {{?=b}}: no group named 'b'"),
    ('echo fine > ran.txt\necho {{file:nothing.txt}}\n', NO_INPUT,
     'jobs.map:2: {{file:nothing.txt}}: cannot read'),
    ('[attributes]\nlocal.x = 1\nduration = forever\n[jobs]\necho fine > ran.txt\n', BAD_SPEC,
     "jobs.map:3: [attributes] duration: 'forever' is not a duration"),
])
def test_nothing_is_submitted_from_a_map_that_does_not_parse(
        work_dir: pathlib.Path, tmp_path: pathlib.Path, text: str, status: int,
        fragment: str) -> None:
    write_map(tmp_path, text)
    result = campaign(work_dir, tmp_path, 'submit', 'jobs.map', '--logs', 'logs')
    assert_one_error_line(result, status, fragment)
    assert not (tmp_path / 'logs').exists() and not (tmp_path / 'ran.txt').exists()


def test_bad_command_lines_and_folders_are_usage_errors(work_dir: pathlib.Path,
                                                        tmp_path: pathlib.Path) -> None:
    write_map(tmp_path, 'true\n')
    assert_one_error_line(campaign(work_dir, tmp_path, 'submit', 'jobs.map'), USAGE,
                          'the following arguments are required: --logs')
    assert_one_error_line(campaign(work_dir, tmp_path, 'submit', 'jobs.map', '--logs', 'l',
                                   '--max-running', '0'), USAGE,
                          "argument --max-running: must be a positive integer, not '0'")
    assert_one_error_line(campaign(work_dir, tmp_path, 'submit', 'missing.map', '--logs', 'l'),
                          NO_INPUT, 'missing.map: cannot read the map: No such file')
    assert_one_error_line(campaign(work_dir, tmp_path, 'submit', 'jobs.map', '--logs', 'l',
                                   '-e', 'nosuch'), 69, 'nosuch')
    (tmp_path / 'full').mkdir()
    (tmp_path / 'full' / 'x').write_text('')
    assert_one_error_line(campaign(work_dir, tmp_path, 'submit', 'jobs.map', '--logs',
                                   'full'), USAGE, 'is not an empty directory')
    assert_one_error_line(campaign(work_dir, tmp_path, 'reattach', '--logs', 'nowhere'),
                          NO_INPUT, 'does not exist')
    assert_one_error_line(campaign(work_dir, tmp_path, 'info', '--logs', 'full'), NO_INPUT,
                          'holds no campaign (no campaign.json)')
    assert campaign(work_dir, tmp_path, 'submit', 'jobs.map', '--logs', 'l').returncode == 0
    assert_one_error_line(campaign(work_dir, tmp_path, 'submit', 'jobs.map', '--logs', 'l'),
                          USAGE, 'already holds a campaign; follow it with psij campaign '
                                 'reattach')
    assert_one_error_line(campaign(work_dir, tmp_path, 'info', '--logs', 'l', 'nosuch'),
                          USAGE, "unknown field 'nosuch'; fields: id, state")
    assert_one_error_line(campaign(work_dir, tmp_path, 'info', '--logs', 'l', '--status',
                                   'done'), USAGE, "unknown state 'done'; allowed")


# --- the lock, signals, reattach -----------------------------------------------------------


def gated(gate: pathlib.Path, then: str) -> str:
    """A map line whose commands wait until ``gate`` exists, then run ``then`` (after a
    minute without the gate they give up: a failed test leaves nothing running for long)."""
    return (f'i=0; while [ ! -e {gate} ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); '
            f'done; [ -e {gate} ] && {then}\n')


def test_one_process_at_a_time_runs_a_campaign(work_dir: pathlib.Path,
                                               tmp_path: pathlib.Path) -> None:
    gate = tmp_path / 'gate'
    write_map(tmp_path, gated(gate, 'echo {{1,2}} >> ran.txt'))
    first = subprocess.Popen([str(PSIJ), 'campaign', 'submit', 'jobs.map', '--logs', 'logs'],
                             cwd=tmp_path, env=psij_environment(work_dir),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        eventually(lambda: (tmp_path / 'logs' / 'runner.json').exists(), 'the lock taken')
        second = campaign(work_dir, tmp_path, 'reattach', '--logs', 'logs')
        assert_one_error_line(second, TIMEOUT, 'is run by another process (psij campaign '
                                               f'submit, pid {first.pid} on')
        waiting = subprocess.Popen([str(PSIJ), 'campaign', 'reattach', '--logs', 'logs',
                                    '--lock-timeout', '60'], cwd=tmp_path,
                                   env=psij_environment(work_dir), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
    finally:
        gate.write_text('')
    assert first.wait(timeout=60) == 0
    output, errors = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, errors
    assert output.splitlines()[-1] == 'psij campaign: 2 jobs: completed 2'
    assert ran(tmp_path / 'ran.txt') == ['1', '2']


def test_ctrl_c_stops_submitting_and_reattach_finishes(work_dir: pathlib.Path,
                                                        tmp_path: pathlib.Path) -> None:
    gate = tmp_path / 'gate'
    write_map(tmp_path, gated(gate, 'echo {{1,2,3,4,5}} >> ran.txt'))
    process = subprocess.Popen([str(PSIJ), 'campaign', 'submit', 'jobs.map', '--logs', 'logs',
                                '--max-running', '2'], cwd=tmp_path,
                               env=psij_environment(work_dir), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        eventually(lambda: states(tmp_path / 'logs').count('running') == 2,
                   'two jobs running')
        process.send_signal(signal.SIGINT)
        output, errors = process.communicate(timeout=60)
        assert process.returncode == INTERRUPTED, errors
        assert 'stopped by SIGINT; jobs in flight run on: psij campaign reattach --logs' \
            in errors
        assert states(tmp_path / 'logs') == ['running', 'running', 'unsubmitted',
                                             'unsubmitted', 'unsubmitted']
    finally:
        gate.write_text('')
    result = campaign(work_dir, tmp_path, 'reattach', '--logs', str(tmp_path / 'logs'))
    assert result.returncode == 0, str(result)
    assert ran(tmp_path / 'ran.txt') == ['1', '2', '3', '4', '5']


def test_template_is_a_map(work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    result = psij(work_dir, 'campaign', 'template', 'echo {{1,2}}', 'true',
                  env={'CONDA_DEFAULT_ENV': 'sim', 'LOADEDMODULES': 'gcc/12:openmpi/4'})
    assert result.returncode == 0, str(result)
    assert '[pre]\n# run at the start of every job, in its shell\nmodule load gcc/12 ' \
           'openmpi/4\nconda activate sim\n' in result.stdout
    assert result.stdout.endswith('echo {{1,2}}\ntrue\n')
    write_map(tmp_path, result.stdout.replace('module load', '# ').replace('conda', '# '))
    submitted = campaign(work_dir, tmp_path, 'submit', 'jobs.map', '--logs', 'logs')
    assert submitted.returncode == 0, str(submitted)
    assert len(records(tmp_path / 'logs')) == 3


# --- docs ----------------------------------------------------------------------------------


def test_docs_cover_every_campaign_subcommand_and_option(work_dir: pathlib.Path) -> None:
    docs = (REPO / 'docs' / 'cli.md').read_text()
    page = (REPO / 'docs' / 'many-jobs.md').read_text()
    for subcommand in ('submit', 'reattach', 'cancel', 'info', 'template'):
        assert f'### `psij campaign {subcommand}`' in docs
        result = psij(work_dir, 'campaign', subcommand, '--help')
        assert result.returncode == 0, str(result)
        for option in set(re.findall(r'(?<![\w-])(--[a-z][a-z-]+)', result.stdout)):
            assert f'`{option}' in docs, f'{option} of psij campaign {subcommand} not in docs'
    for key in ('id', 'state', 'commands', 'lines', 'exit_code', 'message', 'failed_line',
                'native_id', 'job_id', 'executor', 'times', 'stdout', 'stderr', 'script',
                'result', 'attempts'):
        assert f'`{key}`' in page, f'the record key {key} is not in docs/many-jobs.md'
    assert os.path.exists(REPO / 'docs' / 'examples' / 'campaign_sweep.map')


# --- what it shows -------------------------------------------------------------------------


def test_on_a_terminal_it_shows_counts_and_a_progress_bar(work_dir: pathlib.Path,
                                                          tmp_path: pathlib.Path) -> None:
    write_map(tmp_path, 'sleep 0.2; exit {{0,0,0,5}}\n')
    leader, follower = pty.openpty()
    process = subprocess.Popen([str(PSIJ), 'campaign', 'submit', 'jobs.map', '--logs', 'logs',
                                '--max-running', '2'], cwd=tmp_path,
                               env=psij_environment(work_dir), stdin=subprocess.DEVNULL,
                               stdout=follower, stderr=follower)
    os.close(follower)
    shown = b''
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the terminal's other end closed
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert process.wait(timeout=60) == 5
    text = shown.decode()
    assert '\r[----------' in text and ' 0/4 done | ' in text
    assert '\r[####################] 4/4 done | completed 3, failed 1 | ' in text
    # Then, on lines of their own, the jobs that need attention.
    assert '\r\n4 failed exit=5 (map line 1 exited with 5)\r\n' in text
    assert 'psij campaign: 4 jobs: completed 3, failed 1' in text
