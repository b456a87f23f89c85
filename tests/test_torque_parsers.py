"""Torque's parsers against output samples in Torque's formats and against the real output of
Slurm's Torque-compatible commands (tests/fixtures/torque, whose README names each file's
source)."""

import pathlib
from typing import Dict, Optional, Sequence

import pytest
from batch_helpers import job_script
from hypothesis import given
from hypothesis import strategies as st
from psij.executors.torque import Torque, parse_full_text, parse_xml

from psij import InvalidJobException, JobState, SubmitException
from psij.batch import CancelOutcome, StatusCommandError, SubmitCommand
from psij.transport import CommandResult

FIXTURES = pathlib.Path(__file__).parent / 'fixtures' / 'torque'
torque = Torque()


def sample(name: str, returncode: Optional[int] = 0,
           argv: Sequence[str] = ('torque-command',)) -> CommandResult:
    """A CommandResult of ``NAME.txt`` (stdout) and ``NAME.stderr.txt``, where they exist."""
    stdout = FIXTURES / f'{name}.txt'
    stderr = FIXTURES / f'{name}.stderr.txt'
    assert stdout.exists() or stderr.exists(), f'no fixture {name}'
    return CommandResult(argv, returncode, stdout.read_text() if stdout.exists() else '',
                         stderr.read_text() if stderr.exists() else '')


# --- qstat -f (text) -------------------------------------------------------------------------

def test_status_command() -> None:
    assert torque.status_command(['1.s', '2.s']) == ['qstat', '-f', '1.s', '2.s']


def test_text_and_xml_of_the_same_job_agree() -> None:
    text = parse_full_text(sample('qstat-f-completed').stdout)
    xml = parse_xml(sample('qstat-x-completed').stdout)
    assert list(text) == list(xml) == ['4564045.pbsserver']
    text_job, xml_job = text['4564045.pbsserver'], xml['4564045.pbsserver']
    # Values continued on tab-indented lines come back whole.
    for name in ('Output_Path', 'Variable_List', 'submit_args', 'exit_status',
                 'Resource_List.walltime', 'resources_used.walltime', 'exec_host'):
        assert text_job[name] == xml_job[name], name
    # A value with line breaks of its own keeps its lines (the text format cannot tell an empty
    # line in a value from the empty line between jobs, so that one is lost).
    assert text_job['sched_hint'].splitlines() == [
        line for line in xml_job['sched_hint'].splitlines() if line]


def test_completed_job() -> None:
    for name in ('qstat-f-completed', 'qstat-x-completed'):
        status = torque.parse_status_output(sample(name), ['4564045.pbsserver'])[
            '4564045.pbsserver']
        assert (status.state, status.exit_code, status.native_state) == (
            JobState.COMPLETED, 0, 'C'), name


def test_queued_and_held_jobs_in_xml() -> None:
    queued = torque.parse_status_output(sample('qstat-x-queued'), ['4499334.pbsserver'])
    assert queued['4499334.pbsserver'].state == JobState.QUEUED
    held = torque.parse_status_output(sample('qstat-x-held'), ['15020227.testServer'])
    assert (held['15020227.testServer'].state, held['15020227.testServer'].message) == (
        JobState.QUEUED, 'held')


def test_every_state_in_one_answer() -> None:
    ids = [f'{n}.mskcc-fe1.local' for n in range(3264860, 3264871)]
    statuses = torque.parse_status_output(sample('qstat-f-mixed'), ids)
    found = {native_id.split('.')[0]: (status.state, status.exit_code, status.message)
             for native_id, status in statuses.items()}
    assert found == {
        '3264860': (JobState.ACTIVE, None, None),
        '3264861': (JobState.QUEUED, None, 'queued'),
        '3264862': (JobState.QUEUED, None, 'held'),
        '3264863': (JobState.FAILED, 3, None),
        '3264864': (JobState.FAILED, None, 'walltime limit of 72:00:00 reached (Torque '
                                           'exit_status -11)'),
        '3264865': (JobState.FAILED, -15, 'killed by SIGTERM (Torque exit_status 271)'),
        '3264866': (JobState.FAILED, -15, 'walltime limit of 1:00:00 reached (Torque '
                                          'exit_status 271)'),
        '3264867': (JobState.CANCELED, None, 'deleted before it started'),
        '3264868': (JobState.ACTIVE, None, None),
        '3264869': (JobState.COMPLETED, 0, None),
        '3264870': (JobState.FAILED, None, 'the job\'s command could not be executed (Torque '
                                           'exit_status -8)'),
    }


@pytest.mark.parametrize('name', ['qstat-unknown', 'qstat-unknown-torque5'])
def test_unknown_jobs_are_left_out(name: str) -> None:
    assert torque.parse_status_output(sample(name, returncode=153), ['3481331.egeon2']) == {}


def test_text_before_the_first_job_is_a_command_failure() -> None:
    result = CommandResult(['qstat'], 0, 'pbs_iff: cannot connect to host\nJob Id: 1.s\n', '')
    with pytest.raises(StatusCommandError, match='before the first'):
        torque.parse_status_output(result, ['1.s'])


def test_other_complaints_are_command_failures() -> None:
    result = CommandResult(['qstat'], 1, '', 'qstat: cannot connect to server torque01 '
                                             '(errno=111) Connection refused\n')
    with pytest.raises(StatusCommandError, match='cannot connect'):
        torque.parse_status_output(result, ['1.s'])
    with pytest.raises(StatusCommandError, match='cannot be read'):
        torque.parse_status_output(CommandResult(['qstat'], 0, '<Data><Job>', ''), ['1.s'])


_NAMES = st.from_regex(r'[A-Za-z_][A-Za-z0-9_]{0,12}(\.[a-z]{1,8})?', fullmatch=True)
_VALUES = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=0,
                  max_size=300).map(str.strip)


@given(st.dictionaries(_NAMES, _VALUES, min_size=1, max_size=8))
def test_text_format_round_trip(attributes: Dict[str, str]) -> None:
    """Whatever the values, Torque's layout (four-space attributes, long values continued on
    tab-indented lines) reads back unchanged."""
    lines = ['Job Id: 7.torque01.example.org']
    for name, value in attributes.items():
        line = f'    {name} = {value}'
        lines.append(line[:78])
        lines += ['\t' + line[start:start + 70] for start in range(78, len(line), 70)]
    parsed = parse_full_text('\n'.join(lines) + '\n')
    assert parsed == {'7.torque01.example.org': attributes}


# --- Slurm's Torque-compatible qstat (real output) -------------------------------------------

def test_slurm_wrapper_running_held_and_failed() -> None:
    statuses = torque.parse_status_output(sample('slurm-wrapper-qstat-f-mixed'),
                                          ['3599', '3600', '3601'])
    assert statuses['3599'].state == JobState.ACTIVE
    assert statuses['3600'].state == JobState.QUEUED  # held: the wrapper says Q
    # Ended, but the wrapper never gives an exit status: only the job's marker can say more.
    assert (statuses['3601'].state, statuses['3601'].complete) == (JobState.FAILED, False)


def test_slurm_wrapper_after_qdel() -> None:
    statuses = torque.parse_status_output(sample('slurm-wrapper-qstat-f-ended'),
                                          ['3599', '3600', '3601'])
    assert (statuses['3599'].state, statuses['3599'].complete) == (JobState.FAILED, False)
    assert (statuses['3600'].state, statuses['3600'].message) == (
        JobState.CANCELED, 'deleted before it started')


def test_slurm_wrapper_unknown_ids() -> None:
    assert torque.parse_status_output(sample('slurm-wrapper-qstat-f-unknown', returncode=153),
                                      ['99999999']) == {}
    statuses = torque.parse_status_output(sample('slurm-wrapper-qstat-f-one-unknown'),
                                          ['3599', '99999999'])
    assert list(statuses) == ['3599']


def test_slurm_wrapper_has_no_xml() -> None:
    with pytest.raises(StatusCommandError, match='Unknown option: x'):
        torque.parse_status_output(sample('slurm-wrapper-qstat-x', returncode=2), ['3599'])


# --- qsub, qdel, qselect -------------------------------------------------------------------

def test_submit() -> None:
    assert torque.submit_command(job_script('/w/job.sh')) == SubmitCommand(
        ['qsub', '-j', 'oe', '-o', '/dev/null', '/w/job.sh'])
    assert torque.parse_submit_output(sample('qsub')) == '9974279.garibaldi01-adm.cluster.net'
    assert torque.parse_submit_output(sample('slurm-wrapper-qsub')) == '3602'


@pytest.mark.parametrize('name, returncode, field', [
    ('qsub-unknown-queue', 1, 'JobAttributes.queue_name'),
    ('qsub-no-feasible-nodes', 1, 'JobSpec.resources'),
    ('qsub-max-walltime', 1, 'JobAttributes.duration'),
    ('slurm-wrapper-qsub-bad-queue', 1, 'JobAttributes.queue_name'),
])
def test_refusals_name_the_field(name: str, returncode: int, field: str) -> None:
    with pytest.raises(InvalidJobException) as raised:
        torque.parse_submit_output(sample(name, returncode=returncode))
    assert str(raised.value).startswith(field)


def test_failed_submission_without_a_known_cause() -> None:
    result = CommandResult(['qsub'], 1, '', 'qsub: Bad UID for job execution MSG=ruserok '
                                            'failed validating alice/alice from login1\n')
    with pytest.raises(SubmitException, match='Bad UID') as raised:
        torque.parse_submit_output(result)
    assert not raised.value.transient


@pytest.mark.parametrize('name, returncode', [
    ('qdel-completed', 168), ('qdel-unknown', 153), ('slurm-wrapper-qdel-finished', 1)])
def test_cancel_of_a_job_that_ended_says_so(name: str, returncode: int) -> None:
    native_id = '3264863.mskcc-fe1.local'
    assert torque.parse_cancel_output(sample(name, returncode=returncode), [native_id]) == \
        {native_id: CancelOutcome.ALREADY_ENDED}


def test_list() -> None:
    assert torque.list_command('alice') == ['qselect', '-u', 'alice', '-s', 'EHQRSTW']
    assert torque.parse_list_output(sample('qselect')) == [
        '3264860.mskcc-fe1.local', '3264861.mskcc-fe1.local']
