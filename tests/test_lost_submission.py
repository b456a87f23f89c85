"""`psij.batch.lost_submission`: a submit whose answer was lost is looked for before it is
made again, so one script never gives two jobs. The transport here is a test double that
answers from a script of results; Slurm's parser reads real ``squeue``/``sacct`` output."""

import pathlib
import subprocess
from typing import List, Optional, Sequence, Tuple

import pytest
from psij.executors.slurm import Slurm

import psij.batch.lost_submission as lost_submission
from psij.batch import SubmitCommand
from psij.batch.lost_submission import ASK_TRIES, Submitted, markers_command, submit_once
from psij.exceptions import SubmitException
from psij.transport import CommandResult

SCRIPT = '/home/me/.psij/work/slurm/4d2a.sh'
SUBMIT = SubmitCommand(['sbatch', '--parsable', SCRIPT])
LOST = CommandResult(['sbatch'], None, '', 'ssh to cluster failed: Connection reset')
NO_MARKER = CommandResult(['find'], 1, '', '')


@pytest.fixture(autouse=True)
def no_unsettled_scripts() -> None:
    """Each test starts with no script remembered as unsettled by an earlier one."""
    lost_submission._unsettled.clear()


class ScriptedTransport:
    """A transport double: each `run` returns the next of ``answers`` and records the argv."""

    key = 'scripted'

    def __init__(self, answers: Sequence[CommandResult]) -> None:
        self.answers = list(answers)
        self.calls: List[List[str]] = []

    def run(self, argv: Sequence[str], stdin: Optional[str] = None,
            timeout: float = 60.0) -> CommandResult:
        self.calls.append(list(argv))
        return self.answers.pop(0)

    def programs(self) -> List[str]:
        return ['sbatch' if call[0] == 'sbatch' else 'find' for call in self.calls]


def found(*lines: str) -> CommandResult:
    return CommandResult(['sh'], 0, ''.join(line + '\n' for line in lines), '')


def run(answers: Sequence[CommandResult]) -> Tuple[ScriptedTransport, List[float], Submitted]:
    transport = ScriptedTransport(answers)
    waits: List[float] = []
    outcome = submit_once(transport, Slurm(), 'me', SCRIPT, SUBMIT, 60.0,  # type: ignore[arg-type]
                          sleep=waits.append)
    return transport, waits, outcome


def test_an_answered_submit_is_not_looked_for() -> None:
    transport, waits, outcome = run([CommandResult(['sbatch'], 0, '17\n', '')])
    assert transport.programs() == ['sbatch'] and waits == []


def test_a_lost_answer_of_a_job_that_arrived_gives_its_id_and_no_second_job() -> None:
    transport, waits, outcome = run([LOST, found('12^/other.sh', f'17^{SCRIPT}')])
    assert transport.programs() == ['sbatch', 'find']
    assert outcome.found == '17'


def test_a_submission_seen_only_in_accounting_is_found_too() -> None:
    _, _, outcome = run([LOST, found('16^/x.sh', f'17^sbatch --parsable {SCRIPT}')])
    assert outcome.found == '17'


def test_an_array_is_found_by_its_elements() -> None:
    _, _, outcome = run([LOST, found(f'20_3^{SCRIPT}')])
    assert outcome.found == '20'


def test_a_script_whose_name_only_ends_the_same_is_not_it() -> None:
    transport, _, outcome = run([LOST, found(f'9^/home/me/x{SCRIPT}'), NO_MARKER, found(),
                                 NO_MARKER, CommandResult(['sbatch'], 0, '18\n', '')])
    assert transport.programs() == ['sbatch', 'find', 'find', 'find', 'find', 'sbatch']
    assert outcome.found is None


def test_a_submission_that_never_arrived_is_made_again_once_after_two_looks() -> None:
    again = CommandResult(['sbatch'], 0, '18\n', '')
    transport, waits, outcome = run([LOST, found(), NO_MARKER, found(), NO_MARKER, again])
    assert transport.programs() == ['sbatch', 'find', 'find', 'find', 'find', 'sbatch']
    assert transport.calls[2] == markers_command(SCRIPT)
    assert waits == [1.0, 3.0]
    assert outcome.result == again and outcome.found is None


def test_while_the_scheduler_cannot_be_asked_nothing_is_submitted_again() -> None:
    transport = ScriptedTransport([LOST] + [LOST] * ASK_TRIES)
    waits: List[float] = []
    with pytest.raises(SubmitException) as raised:
        submit_once(transport, Slurm(), 'me', SCRIPT, SUBMIT, 60.0,  # type: ignore[arg-type]
                    sleep=waits.append)
    assert raised.value.transient
    assert f'look for a job whose script is {SCRIPT}' in raised.value.message
    assert transport.programs() == ['sbatch'] + ['find'] * ASK_TRIES
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0][:ASK_TRIES]


def test_a_job_that_ended_before_the_look_is_found_by_its_marker() -> None:
    marker = CommandResult(['find'], 0, '/home/me/.psij/work/slurm/./31.ec\n', '')
    transport, _, outcome = run([LOST, found('12^/other.sh'), marker])
    assert transport.programs() == ['sbatch', 'find', 'find']
    assert transport.calls[2][-5:] == ['-F', '-e', 'PSIJ-JOB: 4d2a', '{}', '+']
    assert outcome.found == '31'


def test_a_retry_after_an_unanswered_look_asks_before_it_submits() -> None:
    transport = ScriptedTransport([LOST] + [LOST] * ASK_TRIES)
    with pytest.raises(SubmitException):
        submit_once(transport, Slurm(), 'me', SCRIPT, SUBMIT, 60.0,  # type: ignore[arg-type]
                    sleep=lambda _: None)
    # The submission gate tries again later: the first submission may be at the scheduler.
    retry = ScriptedTransport([found(f'17^{SCRIPT}')])
    outcome = submit_once(retry, Slurm(), 'me', SCRIPT, SUBMIT, 60.0,  # type: ignore[arg-type]
                          sleep=lambda _: None)
    assert retry.programs() == ['find'] and outcome.found == '17'
    # Settled: a later submission of the same script (none is expected) runs at once.
    again = ScriptedTransport([CommandResult(['sbatch'], 0, '18\n', '')])
    submit_once(again, Slurm(), 'me', SCRIPT, SUBMIT, 60.0,  # type: ignore[arg-type]
                sleep=lambda _: None)
    assert again.programs() == ['sbatch']


def test_a_retry_whose_first_submission_never_arrived_submits_once() -> None:
    with pytest.raises(SubmitException):
        first = ScriptedTransport([LOST] + [LOST] * ASK_TRIES)
        submit_once(first, Slurm(), 'me', SCRIPT, SUBMIT, 60.0,  # type: ignore[arg-type]
                    sleep=lambda _: None)
    retry = ScriptedTransport([found(), NO_MARKER, found(), NO_MARKER,
                               CommandResult(['sbatch'], 0, '18\n', '')])
    outcome = submit_once(retry, Slurm(), 'me', SCRIPT, SUBMIT, 60.0,  # type: ignore[arg-type]
                          sleep=lambda _: None)
    assert retry.programs() == ['find', 'find', 'find', 'find', 'sbatch']
    assert outcome.result.stdout == '18\n'


class Unaskable(Slurm):
    """A scheduler that cannot say which job a script gave (a plugin without the look)."""

    def find_submission_command(self, user: str) -> Optional[List[str]]:
        return None


def test_a_lost_answer_a_scheduler_cannot_look_for_is_not_tried_again() -> None:
    transport = ScriptedTransport([LOST])
    with pytest.raises(SubmitException) as raised:
        submit_once(transport, Unaskable(), 'me', SCRIPT, SUBMIT, 60.0,  # type: ignore[arg-type]
                    sleep=lambda _: None)
    assert not raised.value.transient
    assert f'look for a job whose script is {SCRIPT}' in raised.value.message
    assert transport.programs() == ['sbatch']


def test_slurms_look_is_one_shell_of_squeue_then_sacct(tmp_path: pathlib.Path) -> None:
    argv = Slurm().find_submission_command('me')
    assert argv is not None and argv[:2] == ['sh', '-c']
    assert 'squeue --noheader --states=all --user=me --format=%F^%o' in argv[2]
    assert 'sacct --noheader --parsable2 --allocations --user=me' in argv[2]
    # The shell line is valid, and a failing sacct (no accounting) does not fail the look.
    bin_directory = tmp_path / 'bin'
    bin_directory.mkdir()
    for name, body in (('squeue', f'echo "17^{SCRIPT}"'), ('sacct', 'exit 1')):
        (bin_directory / name).write_text(f'#!/bin/sh\n{body}\n')
        (bin_directory / name).chmod(0o755)
    done = subprocess.run(argv, capture_output=True, text=True,
                          env={'PATH': f'{bin_directory}:/usr/bin:/bin'})
    assert done.returncode == 0
    assert Slurm().parse_find_submission(
        CommandResult(argv, 0, done.stdout, ''), SCRIPT) == '17'


def test_the_marker_look_runs_with_the_real_find_and_grep(tmp_path: pathlib.Path) -> None:
    from psij.transport import LocalTransport
    script = tmp_path / 'slurm' / 'job-1.sh'
    script.parent.mkdir()
    script.write_text('#!/bin/sh\n')
    (script.parent / '40.ec').write_text('0\nPSIJ-JOB: job-10\n')  # another job's
    (script.parent / '41.started').write_text('PSIJ-JOB: other\n')
    look = markers_command(str(script))
    assert LocalTransport().run(look).stdout == ''
    (script.parent / '42.started').write_text('PSIJ-JOB: job-1\n')
    listed = LocalTransport().run(look).stdout.split()
    assert [pathlib.Path(line).name for line in listed] == ['42.started']
    assert lost_submission._look_in_markers(LocalTransport(), str(script), 10.0) == '42'
