"""LSF's parsers against output samples in the formats IBM documents (tests/fixtures/lsf, whose
README names the public source each sample was modelled on)."""

import json
import pathlib
import re
import shlex
from typing import Dict, Optional, Sequence

import pytest
from batch_helpers import job_script
from hypothesis import given
from hypothesis import strategies as st
from psij.executors.lsf import DIRECTIVES, STATUS_FIELDS, Lsf, custom_directives, job_status

from psij import InvalidJobException, JobState, SubmitException
from psij.batch import CancelOutcome, SchedulerStatus, StatusCommandError, SubmitCommand
from psij.transport import CommandResult

FIXTURES = pathlib.Path(__file__).parent / 'fixtures' / 'lsf'
lsf = Lsf()


def sample(name: str, returncode: Optional[int] = 0,
           argv: Sequence[str] = ('lsf-command',)) -> CommandResult:
    """A CommandResult made of the sample's stdout (and stderr, if there is one)."""
    stderr_file = FIXTURES / f'{name}.stderr.txt'
    stderr = stderr_file.read_text() if stderr_file.exists() else ''
    return CommandResult(argv, returncode, (FIXTURES / f'{name}.txt').read_text(), stderr)


def _states(statuses: Dict[str, SchedulerStatus]) -> Dict[str, JobState]:
    return {native_id: status.state for native_id, status in statuses.items()}


# --- bsub ----------------------------------------------------------------------------------

@pytest.mark.parametrize('name, expected', [
    ('bsub-submitted', '764254593'), ('bsub-submitted-default-queue', '1234'),
    ('bsub-please-wait', '12345678'),
])
def test_bsub_acceptance(name: str, expected: str) -> None:
    assert lsf.parse_submit_output(sample(name)) == expected


@pytest.mark.parametrize('name, field', [
    ('bsub-no-such-queue', 'JobAttributes.queue_name'),
    ('bsub-too-many-processors', 'JobSpec.resources'),
    ('bsub-rusage', 'ResourceSpecV1.memory'),
    ('bsub-resource-section', "custom_attributes['lsf.R']"),
    ('bsub-esub-project', 'JobAttributes.account'),
])
def test_bsub_refusals_name_the_field(name: str, field: str) -> None:
    with pytest.raises(InvalidJobException) as raised:
        lsf.parse_submit_output(sample(name, returncode=255))
    assert field in str(raised.value)
    assert 'bsub said' in str(raised.value) and 'Job not submitted' in str(raised.value)


def test_bsub_that_cannot_reach_lsf_is_transient() -> None:
    with pytest.raises(SubmitException) as raised:
        lsf.parse_submit_output(sample('bsub-cannot-connect', returncode=255))
    assert raised.value.transient
    assert 'Cannot connect to LSF' in str(raised.value)


def test_bsub_that_did_not_run_is_transient() -> None:
    with pytest.raises(SubmitException) as raised:
        lsf.parse_submit_output(CommandResult(['bsub'], None, '', 'bsub: no answer after 60 s'))
    assert raised.value.transient


def test_bsub_unknown_refusal_is_a_submit_exception_with_its_words() -> None:
    result = CommandResult(['bsub'], 255, '', 'Request aborted by esub. Job not submitted.\n')
    with pytest.raises(SubmitException, match='Request aborted by esub') as raised:
        lsf.parse_submit_output(result)
    assert not raised.value.transient


def test_submit_reads_the_script_on_stdin() -> None:
    command = lsf.submit_command(job_script('/work/x.sh', '#!/bin/bash\n#BSUB -J x\n'))
    assert command == SubmitCommand(['bsub'], stdin='#!/bin/bash\n#BSUB -J x\n')


# --- bjobs ---------------------------------------------------------------------------------

def test_status_command_is_one_bjobs_for_all_jobs() -> None:
    assert lsf.status_command(['3', '1', '2']) == [
        'bjobs', '-json', '-o',
        'jobid jobindex stat exit_code exit_reason pend_reason runtimelimit', '-a', '3', '1', '2']
    assert STATUS_FIELDS[:3] == ('jobid', 'jobindex', 'stat')


def test_bjobs_every_state() -> None:
    statuses = lsf.parse_status_output(sample('bjobs-json-states'), [])
    assert _states(statuses) == {
        '806290': JobState.ACTIVE, '806291': JobState.QUEUED, '806292': JobState.QUEUED,
        '806293': JobState.ACTIVE, '806294': JobState.ACTIVE, '806295': JobState.COMPLETED,
        '806296': JobState.FAILED, '806297': JobState.CANCELED, '806298': JobState.CANCELED,
        '764213236': JobState.FAILED, '806299': JobState.FAILED, '806300': JobState.QUEUED,
        '806301': JobState.ACTIVE, '806302': JobState.ACTIVE}
    assert statuses['806291'].message == 'pending: New job is waiting for scheduling'
    assert statuses['806292'].message == (
        'suspended while pending: Job was suspended by LSF admin or root while pending')
    assert (statuses['806295'].exit_code, statuses['806295'].complete) == (0, True)
    assert (statuses['806296'].exit_code, statuses['806296'].complete) == (3, True)
    assert statuses['806296'].message is None  # the tracker says "exit code 3"


def test_bjobs_run_limit_names_the_limit() -> None:
    status = lsf.parse_status_output(sample('bjobs-json-states'), [])['764213236']
    assert status.state == JobState.FAILED and status.complete
    assert status.message is not None
    assert status.message.startswith('time limit of 0:01:00 reached')
    assert 'TERM_RUNLIMIT' in status.message
    assert status.exit_code == 140


def test_bjobs_killed_by_owner_or_admin_is_canceled_saying_so() -> None:
    statuses = lsf.parse_status_output(sample('bjobs-json-states'), [])
    owner, admin = statuses['806297'], statuses['806298']
    assert owner.message == 'canceled: killed by its owner (LSF TERM_OWNER: job killed by owner)'
    assert owner.exit_code == 130 and owner.complete
    assert admin.message is not None and 'killed by root or an LSF administrator' in admin.message
    assert admin.exit_code is None and admin.complete


def test_bjobs_other_termination_reasons_fail_with_lsf_words() -> None:
    status = lsf.parse_status_output(sample('bjobs-json-states'), [])['806299']
    assert status.message == ('ended by LSF: job killed after reaching LSF memory usage limit '
                              '(LSF TERM_MEMLIMIT)')
    assert status.exit_code == 137


@pytest.mark.parametrize('name', ['bjobs-json-not-found', 'bjobs-json-not-found-without-jobid'])
def test_bjobs_unknown_ids_are_left_out(name: str) -> None:
    statuses = lsf.parse_status_output(sample(name, returncode=255), ['12', '13'])
    assert list(statuses) == ['12']


def test_bjobs_plain_not_found_on_stderr_means_no_job_known() -> None:
    assert lsf.parse_status_output(sample('bjobs-not-found', returncode=255), ['864220165']) == {}


def test_bjobs_please_wait_notices_before_the_json_are_skipped() -> None:
    statuses = lsf.parse_status_output(sample('bjobs-json-please-wait'), ['12345678'])
    assert statuses['12345678'].state == JobState.CANCELED


@pytest.mark.parametrize('name, returncode', [
    ('bjobs-json-error', 255), ('bjobs-cannot-connect', 255),
])
def test_bjobs_failures_are_command_failures(name: str, returncode: int) -> None:
    with pytest.raises(StatusCommandError):
        lsf.parse_status_output(sample(name, returncode), ['1'])


def test_bjobs_that_did_not_run_is_a_command_failure() -> None:
    with pytest.raises(StatusCommandError, match='no answer'):
        lsf.parse_status_output(CommandResult(['bjobs'], None, '', 'bjobs: no answer'), ['1'])


def test_bjobs_with_text_after_its_json_is_a_command_failure() -> None:
    text = (FIXTURES / 'bjobs-json-list.txt').read_text() + 'Job <1> is not found\n'
    with pytest.raises(StatusCommandError, match='after its JSON'):
        lsf.parse_status_output(CommandResult(['bjobs'], 0, text, ''), ['1'])


def test_bjobs_unknown_state_keeps_the_job_known() -> None:
    text = json.dumps({'RECORDS': [{'JOBID': '7', 'STAT': 'BRAND_NEW', 'EXIT_CODE': ''}]})
    statuses = lsf.parse_status_output(CommandResult(['bjobs'], 0, text, ''), ['7'])
    assert (statuses['7'].state, statuses['7'].native_state) == (JobState.NEW, 'BRAND_NEW')


@pytest.mark.parametrize('record', [
    {'STAT': 'RUN'}, {'JOBID': 'abc', 'STAT': 'RUN'}, {'JOBID': '1'}, ['1', 'RUN'],
    {'JOBID': '1', 'STAT': 7},
])
def test_bjobs_records_that_are_not_job_statuses_are_command_failures(record: object) -> None:
    text = json.dumps({'COMMAND': 'bjobs', 'JOBS': 1, 'RECORDS': [record]})
    with pytest.raises(StatusCommandError):
        lsf.parse_status_output(CommandResult(['bjobs'], 0, text, ''), ['1'])


@given(st.text(alphabet=st.characters(exclude_categories=['Cs']), max_size=300),
       st.sampled_from([0, 255]))
def test_bjobs_garbage_is_a_command_failure_never_a_crash(text: str, returncode: int) -> None:
    # A job missing from garbled output would look like a job that left the queue: output
    # that is not bjobs' JSON must be a command failure (retried), never an empty answer.
    try:
        statuses = lsf.parse_status_output(CommandResult(['bjobs'], returncode, text, ''), ['1'])
    except StatusCommandError:
        return
    assert all(isinstance(status, SchedulerStatus) for status in statuses.values())
    assert re.search(r'^\s*\{', text, re.MULTILINE), 'accepted output without JSON'


@given(st.dictionaries(st.sampled_from(['JOBID', 'STAT', 'EXIT_CODE', 'EXIT_REASON',
                                        'PEND_REASON', 'RUNTIMELIMIT', 'ERROR']),
                       st.one_of(st.text(max_size=30), st.integers(), st.none())))
def test_bjobs_any_record_is_a_status_or_a_command_failure(record: Dict[str, object]) -> None:
    text = json.dumps({'RECORDS': [record]})
    try:
        statuses = lsf.parse_status_output(CommandResult(['bjobs'], 0, text, ''), ['1'])
    except StatusCommandError:
        return
    assert len(statuses) <= 1


# --- job_status: every state ---------------------------------------------------------------

@pytest.mark.parametrize('stat, expected', [
    ('PEND', JobState.QUEUED), ('PSUSP', JobState.QUEUED), ('WAIT', JobState.QUEUED),
    ('PROV', JobState.QUEUED), ('RUN', JobState.ACTIVE), ('USUSP', JobState.ACTIVE),
    ('SSUSP', JobState.ACTIVE), ('UNKWN', JobState.ACTIVE), ('ZOMBI', JobState.ACTIVE),
    ('DONE', JobState.COMPLETED), ('EXIT', JobState.FAILED),
])
def test_every_known_state(stat: str, expected: JobState) -> None:
    status = job_status(stat)
    assert status is not None and status.state == expected and status.native_state == stat


def test_unknown_states_degrade() -> None:
    assert job_status('PDONE') is None and job_status('') is None and job_status('weird') is None


def test_exit_without_code_or_reason_waits_for_more_evidence() -> None:
    status = job_status('EXIT')
    assert status is not None and status.state == JobState.FAILED and not status.complete


@pytest.mark.parametrize('reason', ['TERM_FORCE_OWNER: job killed by owner without time for '
                                    'cleanup', 'TERM_FORCE_ADMIN: job killed by root'])
def test_forced_kills_are_cancellations(reason: str) -> None:
    status = job_status('EXIT', '', reason)
    assert status is not None and status.state == JobState.CANCELED
    assert reason.split(':')[0] in (status.message or '')


def test_run_limit_in_hours_and_with_a_host_model() -> None:
    status = job_status('EXIT', '140', 'TERM_RUNLIMIT: job killed after reaching LSF run time '
                                       'limit', run_limit='90.0/hostA')
    assert status is not None and 'time limit of 1:30:00 reached' in (status.message or '')
    bare = job_status('EXIT', '140', 'TERM_RUNLIMIT', run_limit='')
    assert bare is not None and (bare.message or '').startswith('time limit reached')


# --- bkill and the list --------------------------------------------------------------------

@pytest.mark.parametrize('name, returncode, outcome', [
    ('bkill-terminated', 0, CancelOutcome.REQUESTED),
    ('bkill-signaled', 0, CancelOutcome.REQUESTED),
    ('bkill-finished', 255, CancelOutcome.ALREADY_ENDED),
    ('bkill-no-matching', 255, CancelOutcome.ALREADY_ENDED),
])
def test_bkill_says_what_it_did(name: str, returncode: int, outcome: CancelOutcome) -> None:
    assert lsf.parse_cancel_output(sample(name, returncode), ['1']) == {'1': outcome}


def test_bkill_that_cannot_reach_lsf_raises() -> None:
    with pytest.raises(SubmitException, match='Cannot connect to LSF') as raised:
        lsf.parse_cancel_output(sample('bkill-cannot-connect', 255), ['1'])
    assert raised.value.transient


def test_bkill_unknown_failure_raises() -> None:
    result = CommandResult(['bkill'], 255, '', 'Job <1>: User permission denied\n')
    with pytest.raises(SubmitException, match='permission denied'):
        lsf.parse_cancel_output(result, ['1'])


def test_list() -> None:
    assert lsf.list_command('alice') == ['bjobs', '-json', '-o', 'jobid jobindex stat', '-u',
                                         'alice']
    assert lsf.parse_list_output(sample('bjobs-json-list')) == [
        '764220165', '764254593', '764255172']
    assert lsf.parse_list_output(sample('bjobs-no-unfinished')) == []
    with pytest.raises(StatusCommandError):
        lsf.parse_list_output(sample('bjobs-cannot-connect', 255))


def test_native_ids() -> None:
    assert lsf.is_valid_native_id('764254593') and lsf.is_valid_native_id('12[3]')
    for bad in ('../etc', '12[]', '12[3', '12_3', '12[3].host'):
        assert not lsf.is_valid_native_id(bad), bad


# --- #BSUB values and custom attributes ----------------------------------------------------

@given(st.text(alphabet=st.characters(exclude_categories=['Cs'],
                                      exclude_characters='"\\\n\r\x00'), min_size=1))
def test_directive_values_are_one_word(value: str) -> None:
    # One shell-like word, the way IBM's examples write values (-R "span[hosts=1]").
    assert shlex.split(DIRECTIVES.value(value, 'field')) == [value]


@pytest.mark.parametrize('value, what', [
    ('a"b', 'double quote'), ('a\\b', 'backslash'), ('a\nb', 'line break'), ('a\x00b', 'NUL'),
])
def test_directive_values_that_cannot_be_written(value: str, what: str) -> None:
    with pytest.raises(InvalidJobException, match=what) as raised:
        DIRECTIVES.value(value, 'JobAttributes.queue_name')
    assert 'JobAttributes.queue_name' in str(raised.value)


def test_custom_directives_rule() -> None:
    assert custom_directives({
        'lsf.app': 'gpu app', 'lsf.B': True, 'lsf.N': False, 'lsf.sla': None, 'lsf.G': 7,
        'lsf.R': 'select[type==X86_64]', 'slurm.qos': 'x', 'other': 1}) == [
        '-app "gpu app"', '-B', '-G 7', '-R "select[type==X86_64]"']


@pytest.mark.parametrize('attributes, field', [
    ({'lsf.q': 'short'}, 'JobAttributes.queue_name'),
    ({'lsf.o': '/tmp/x'}, 'JobSpec.stdout_path'),
    ({'lsf.W': '10'}, 'JobAttributes.duration'),
    ({'lsf.M': '10G'}, 'ResourceSpecV1.memory'),
    ({'lsf.-x': True}, "custom_attributes['lsf.-x']"),
    ({'lsf.a b': 1}, "custom_attributes['lsf.a b']"),
    ({'lsf.app': ['a']}, "custom_attributes['lsf.app']"),
    ({'lsf.Jd': 'two\nlines'}, "custom_attributes['lsf.Jd']"),
])
def test_custom_attributes_that_are_refused_name_the_field(attributes: Dict[str, object],
                                                           field: str) -> None:
    with pytest.raises(InvalidJobException) as raised:
        custom_directives(attributes)
    assert field in str(raised.value)
