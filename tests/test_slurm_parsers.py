"""Slurm's parsers against output captured from the real tools (tests/fixtures/slurm, whose
README says which command and job made each file)."""

import pathlib
from typing import Optional, Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st
from psij.executors.slurm import DIRECTIVES, Slurm, job_status

from psij import InvalidJobException, JobState, SubmitException
from psij.batch import AccountingUnavailable, CancelOutcome, SchedulerStatus, StatusCommandError
from psij.transport import CommandResult

FIXTURES = pathlib.Path(__file__).parent / 'fixtures' / 'slurm'
slurm = Slurm()


def captured(name: str, returncode: Optional[int] = 0,
             argv: Sequence[str] = ('slurm-command',)) -> CommandResult:
    """A CommandResult made of the captured stdout (and stderr, if captured) of ``name``."""
    stderr_file = FIXTURES / f'{name}.stderr.txt'
    stderr = stderr_file.read_text() if stderr_file.exists() else ''
    return CommandResult(argv, returncode, (FIXTURES / f'{name}.txt').read_text(), stderr)


def _state(status: Optional[SchedulerStatus]) -> Optional[JobState]:
    return None if status is None else status.state


# --- squeue ----------------------------------------------------------------------------------

def test_squeue_with_our_format() -> None:
    ids = ['244', '245', '246', '247', '248', '249', '250', '225', '999999']
    statuses = slurm.parse_status_output(captured('squeue-psij-format'), ids)
    assert {key: _state(value) for key, value in statuses.items()} == {
        '244': JobState.COMPLETED, '245': JobState.FAILED, '246': JobState.FAILED,
        '247': JobState.QUEUED, '248': JobState.CANCELED, '249': JobState.ACTIVE,
        '250': JobState.CANCELED, '225': JobState.FAILED}
    assert statuses['225'].message == 'time limit of 0:01:00 reached (Slurm state TIMEOUT)'
    assert statuses['225'].complete
    # squeue does not give exit codes: a FAILED job still needs its marker or accounting.
    assert statuses['245'].exit_code is None and not statuses['245'].complete
    assert statuses['247'].message == 'pending: JobHeldUser'
    assert statuses['244'].exit_code == 0


def test_squeue_mixed_states_with_three_fields() -> None:
    statuses = slurm.parse_status_output(captured('squeue-mixed'), ['22', '23'])
    assert _state(statuses['27']) == JobState.ACTIVE  # COMPLETING
    assert _state(statuses['40']) == JobState.QUEUED
    assert statuses['40'].message == 'pending: DependencyNeverSatisfied'
    assert _state(statuses['22']) == JobState.FAILED
    assert statuses['22'].message == 'time limit reached (Slurm state TIMEOUT)'
    assert _state(statuses['38']) == JobState.CANCELED
    assert '41_[0-3]' in statuses


def test_squeue_one_unknown_id_means_no_job_known() -> None:
    result = captured('squeue-psij-format-unknown-one', returncode=1)
    assert slurm.parse_status_output(result, ['999999']) == {}


def test_squeue_several_unknown_ids_print_nothing() -> None:
    assert slurm.parse_status_output(captured('squeue-unknown-two'), ['999998', '999999']) == {}


@pytest.mark.parametrize('name', ['squeue-controller-down', 'squeue-controller-down-one'])
def test_squeue_with_the_controller_down_is_a_command_failure(name: str) -> None:
    with pytest.raises(StatusCommandError, match='Unable to contact slurm controller'):
        slurm.parse_status_output(captured(name, returncode=1), ['1'])


def test_squeue_that_did_not_run_is_a_command_failure() -> None:
    result = CommandResult(['squeue'], None, '', 'squeue: no answer after 60 s')
    with pytest.raises(StatusCommandError, match='no answer'):
        slurm.parse_status_output(result, ['1'])


def test_squeue_node_failure_and_other_states() -> None:
    statuses = slurm.parse_status_output(captured('squeue-nodefail-3s'), [])
    failed = [status for status in statuses.values() if status.native_state == 'NODE_FAIL']
    assert failed and all(status.state == JobState.FAILED for status in failed)
    assert all('node' in (status.message or '') for status in failed)
    held = slurm.parse_status_output(captured('squeue-suspended-held'), [])
    assert {status.native_state: status.state for status in held.values()}.get(
        'SUSPENDED') == JobState.ACTIVE


@given(st.text(alphabet=st.characters(blacklist_categories=('Cs',)), max_size=200))
def test_squeue_garbage_is_a_command_failure_never_a_crash(text: str) -> None:
    # A job missing from garbled output would look like a job that left the queue: output
    # that is not job statuses must be a command failure (retried), never an empty answer.
    try:
        statuses = slurm.parse_status_output(CommandResult(['squeue'], 0, text, ''), ['1'])
    except StatusCommandError:
        return
    assert all(isinstance(status, SchedulerStatus) for status in statuses.values())
    assert len(statuses) == len([line for line in text.splitlines() if line.strip()])


def test_squeue_garbage_line_among_good_ones_is_a_command_failure() -> None:
    text = '12|RUNNING|None|10:00\nslurm_load_jobs: something odd\n'
    with pytest.raises(StatusCommandError, match='not a job status'):
        slurm.parse_status_output(CommandResult(['squeue'], 0, text, ''), ['12', '13'])


def test_squeue_unknown_state_keeps_the_job_known() -> None:
    statuses = slurm.parse_status_output(
        CommandResult(['squeue'], 0, '12|BRAND_NEW_STATE|None|10:00\n', ''), ['12'])
    assert statuses['12'].state == JobState.NEW  # known to Slurm, state left unchanged


# --- job_status: every state, and unknown ones ---------------------------------------------

@pytest.mark.parametrize('native, expected', [
    ('PENDING', JobState.QUEUED), ('CONFIGURING', JobState.QUEUED),
    ('REQUEUE_HOLD', JobState.QUEUED), ('RUNNING', JobState.ACTIVE),
    ('COMPLETING', JobState.ACTIVE), ('SUSPENDED', JobState.ACTIVE),
    ('COMPLETED', JobState.COMPLETED), ('FAILED', JobState.FAILED),
    ('CANCELLED', JobState.CANCELED), ('CANCELLED by 1000', JobState.CANCELED),
    ('TIMEOUT', JobState.FAILED), ('OUT_OF_MEMORY', JobState.FAILED),
    ('NODE_FAIL', JobState.FAILED), ('PREEMPTED', JobState.FAILED),
    ('BOOT_FAIL', JobState.FAILED), ('DEADLINE', JobState.FAILED),
])
def test_every_known_state(native: str, expected: JobState) -> None:
    assert _state(job_status(native)) == expected


@pytest.mark.parametrize('native, words', [
    ('OUT_OF_MEMORY', 'out of memory'), ('NODE_FAIL', 'node'), ('PREEMPTED', 'preempted'),
    ('BOOT_FAIL', 'boot'), ('DEADLINE', 'deadline'),
])
def test_failure_states_say_why(native: str, words: str) -> None:
    status = job_status(native, exit_code='0:125', from_accounting=True)
    assert status is not None and words in (status.message or '')


def test_unknown_states_degrade() -> None:
    assert job_status('SOMETHING_NEW', 'WhoKnows') is None  # in the queue: ignored
    ended = job_status('SOMETHING_NEW', exit_code='0:0', from_accounting=True)
    assert ended is not None and ended.state == JobState.FAILED
    assert 'SOMETHING_NEW' in (ended.message or '')
    assert job_status('') is None


def test_cancel_by_whom() -> None:
    status = job_status('CANCELLED by 1234', from_accounting=True)
    assert status is not None and status.message == 'canceled by uid 1234' and status.complete
    queued_view = job_status('CANCELLED')
    assert queued_view is not None and not queued_view.complete  # accounting says by whom


# --- sacct -----------------------------------------------------------------------------------

def test_sacct_with_our_format() -> None:
    ids = ['244', '245', '246', '247', '248', '249', '250', '225', '999999']
    records = slurm.parse_accounting_output(captured('sacct-psij-format'), ids)
    assert (records['244'].state, records['244'].exit_code) == (JobState.COMPLETED, 0)
    assert (records['245'].state, records['245'].exit_code) == (JobState.FAILED, 3)
    assert (records['246'].state, records['246'].exit_code) == (JobState.FAILED, 9)
    assert records['225'].message == 'time limit of 0:01:00 reached (Slurm state TIMEOUT)'
    assert records['248'].message == 'canceled by uid 0'
    assert records['250'].state == JobState.CANCELED and records['250'].exit_code is None
    assert records['247'].state == JobState.QUEUED and records['249'].state == JobState.ACTIVE
    assert '999999' not in records


def test_sacct_after_a_controller_restart_rewrote_cancel_records() -> None:
    # Fields JobID,State,ExitCode,Reason: the 4th field is read as a time limit and ignored.
    records = slurm.parse_accounting_output(captured('sacct-mixed-after-restart-X'), [])
    canceled = [record for record in records.values() if record.native_state == 'CANCELLED']
    assert canceled and all(record.state == JobState.CANCELED for record in canceled)
    assert all(record.exit_code is None for record in canceled)


def test_sacct_signals() -> None:
    records = slurm.parse_accounting_output(captured('sacct-signals-X'), [])
    assert any(record.exit_code is not None and record.exit_code < 0
               for record in records.values()), 'a job killed by a signal: minus the signal'


def test_sacct_unknown_and_just_submitted_are_empty() -> None:
    assert slurm.parse_accounting_output(captured('sacct-unknown-X'), ['999999']) == {}
    assert slurm.parse_accounting_output(captured('sacct-just-submitted'), ['1']) == {}


def test_sacct_disabled_is_accounting_unavailable() -> None:
    result = CommandResult(['sacct'], 1, '', 'Slurm accounting storage is disabled\n')
    with pytest.raises(AccountingUnavailable):
        slurm.parse_accounting_output(result, ['1'])


def test_sacct_failing_is_a_command_failure() -> None:
    result = CommandResult(['sacct'], 1, '', 'sacct: error: Problem talking to the database')
    with pytest.raises(StatusCommandError):
        slurm.parse_accounting_output(result, ['1'])


# --- sbatch ----------------------------------------------------------------------------------

def test_sbatch_parsable() -> None:
    assert slurm.parse_submit_output(captured('sbatch-parsable')).isdigit()
    assert slurm.parse_submit_output(CommandResult(['sbatch'], 0, '42;cluster\n', '')) == '42'


@pytest.mark.parametrize('name, returncode, field', [
    ('sbatch-invalid-partition', 1, 'JobAttributes.queue_name'),
    ('sbatch-invalid-reservation', 1, 'JobAttributes.reservation_id'),
    ('sbatch-mem-huge', 1, 'ResourceSpecV1.memory'),
    ('sbatch-gpus-per-task', 1, 'ResourceSpecV1.gpu_cores_per_process'),
    ('sbatch-time-garbage', 255, 'JobAttributes.duration'),
    ('sbatch-bogus-directive', 255, "custom_attributes['slurm.*']"),
    ('sbatch-invalid-constraint', 1, "custom_attributes['slurm.constraint']"),
])
def test_sbatch_refusals_name_the_field(name: str, returncode: int, field: str) -> None:
    with pytest.raises(InvalidJobException) as raised:
        slurm.parse_submit_output(captured(name, returncode))
    assert field in str(raised.value)
    assert 'sbatch said' in str(raised.value)


def test_sbatch_with_the_controller_down_is_transient() -> None:
    with pytest.raises(SubmitException) as raised:
        slurm.parse_submit_output(captured('sbatch-controller-down', 1))
    assert raised.value.transient
    assert 'Unable to contact slurm controller' in str(raised.value)


# --- scancel and list ----------------------------------------------------------------------

@pytest.mark.parametrize('name', ['scancel-finished', 'scancel-unknown', 'scancel-unknown-two',
                                  'scancel-pending', 'scancel-running', 'scancel-cancelled-again',
                                  'scancel-finished-and-running', 'scancel-running-and-finished',
                                  'scancel-unknown-verbose', 'scancel-finished-verbose'])
def test_scancel_that_exits_0_is_requested(name: str) -> None:
    # Slurm 22.05's scancel exits 0 for running, finished and unknown ids alike (-v only adds
    # the controller's words on stderr): nothing tells them apart.
    assert slurm.parse_cancel_output(captured(name), '1') == CancelOutcome.REQUESTED


@pytest.mark.parametrize('name', ['scancel-finished-verbose', 'scancel-unknown-verbose'])
def test_scancel_refused_because_the_job_ended_says_so(name: str) -> None:
    # Releases where scancel exits 1 when the controller refuses the kill: the job had ended
    # (or ended so long ago that the controller forgot it).
    assert slurm.parse_cancel_output(captured(name, 1), '23') == CancelOutcome.ALREADY_ENDED


def test_scancel_refusing_the_id_is_an_error() -> None:
    # 'Invalid job id abc' is scancel refusing the id itself: nothing was canceled.
    with pytest.raises(SubmitException, match='Invalid job id abc') as raised:
        slurm.parse_cancel_output(captured('scancel-garbage', 1), 'abc')
    assert not raised.value.transient


def test_scancel_with_the_controller_down_raises() -> None:
    with pytest.raises(SubmitException, match='Unable to contact') as raised:
        slurm.parse_cancel_output(captured('scancel-controller-down', 8), '129')
    assert raised.value.transient


def test_list_output() -> None:
    ids = slurm.parse_list_output(captured('squeue-user-root'))
    assert ids and all(slurm.is_valid_native_id(native_id) or '[' in native_id
                       for native_id in ids)


# --- #SBATCH quoting (rules measured on the real sbatch; see the fixtures README) ------------

@given(st.text(alphabet=st.characters(blacklist_categories=('Cs',),
                                      blacklist_characters='\n\r\x00'), min_size=1))
def test_directive_values_round_trip_through_sbatch_rules(value: str) -> None:
    assert _sbatch_directive_word(DIRECTIVES.value(value, 'field')) == value


def _sbatch_directive_word(text: str) -> str:
    """How sbatch 22.05 reads one directive value (rules measured on the real tool: quotes
    group and are removed, a backslash escapes the next character everywhere)."""
    word, quote, index = [], '', 0
    while index < len(text):
        character = text[index]
        if character == '\\' and index + 1 < len(text):
            word.append(text[index + 1])
            index += 2
            continue
        if quote:
            if character == quote:
                quote = ''
            else:
                word.append(character)
        elif character in '"\'':
            quote = character
        elif character.isspace() or character == '#':
            raise AssertionError(f'unquoted {character!r} would end the value: {text!r}')
        else:
            word.append(character)
        index += 1
    assert not quote, f'unterminated quote in {text!r}'
    return ''.join(word)


def test_directive_values_that_cannot_be_written() -> None:
    for value in ('a\nb', 'a\rb', 'a\x00b'):
        with pytest.raises(InvalidJobException, match='JobAttributes.account'):
            DIRECTIVES.value(value, 'JobAttributes.account')
