"""The pure helpers PBS Professional and Torque share (executors/pbs_common.py): walltimes,
#PBS values, custom attributes, job ids, exit statuses, lenient JSON."""

import string
from typing import Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st
from psij.executors.pbs import PbsPro, load_qstat_json
from psij.executors.pbs_common import (
    DIRECTIVES,
    JobRecord,
    custom_directives,
    format_walltime,
    match_ids,
)
from psij.executors.torque import Torque

from psij import InvalidJobException, JobState
from psij.batch import StatusCommandError, clock_seconds, clock_time

pbs = PbsPro()
torque = Torque()


@pytest.mark.parametrize('seconds, expected', [
    (0.2, '00:00:01'), (1, '00:00:01'), (59.5, '00:01:00'), (3600, '01:00:00'),
    (3661, '01:01:01'), (2 * 86400 + 30, '48:00:30'), (1000 * 3600, '1000:00:00'),
])
def test_walltime_format(seconds: float, expected: str) -> None:
    assert format_walltime(seconds) == expected


@given(st.integers(min_value=1, max_value=10 ** 7))
def test_walltime_round_trip(seconds: int) -> None:
    assert clock_seconds(format_walltime(seconds)) == seconds


@pytest.mark.parametrize('text, expected', [
    ('00:02:00', 120), ('72:00:25', 259225), ('5:07', 307), ('45', 45), ('00:00:10.5', 10),
    ('', None), ('1-00:00:00', None), (None, None),
])
def test_walltime_as_qstat_prints_it(text: Optional[str], expected: Optional[int]) -> None:
    assert clock_seconds(text) == expected


def test_walltime_in_messages() -> None:
    assert clock_time(60) == '0:01:00'
    assert clock_time(259225) == '72:00:25'


#: What a #PBS line carries verbatim (documented in executors/pbs_common.py).
PLAIN = set(string.ascii_letters + string.digits + '_.,:/=@%+[]-')


@given(st.text(min_size=1, max_size=40))
def test_directive_values_are_verbatim_or_refused_naming_the_field(value: str) -> None:
    if set(value) <= PLAIN:
        assert DIRECTIVES.value(value, 'JobAttributes.account') == value
    else:
        with pytest.raises(InvalidJobException, match=r'JobAttributes\.account'):
            DIRECTIVES.value(value, 'JobAttributes.account')


def test_custom_attributes_rule() -> None:
    directives = custom_directives({
        'pbs.l.filesystems': 'home:eagle', 'pbs.l.place': 'free', 'pbs.l.software': True,
        'pbs.W.depend': 'afterok:12.server', 'pbs.m': 'abe', 'pbs.h': True, 'pbs.r': False,
        'pbs.P': None, 'pbs.p': 10, 'slurm.qos': 'high', 'torque.l.nodes': '2', 'other': 1,
    }, 'pbs')
    assert directives == ['-l filesystems=home:eagle', '-l place=free', '-l software',
                          '-W depend=afterok:12.server', '-m abe', '-h', '-p 10']


@pytest.mark.parametrize('attributes, needle', [
    ({'pbs.o': '/tmp/x'}, 'JobSpec.stdout_path'),
    ({'pbs.e': '/tmp/x'}, 'JobSpec.stderr_path'),
    ({'pbs.S': '/bin/csh'}, 'bash'),
    ({'pbs.J': '1-10'}, 'submit a psij.JobArray'),
    ({'pbs.select': '2'}, "'pbs.l.RESOURCE'"),
    ({'pbs.l.bad name': '1'}, 'not a resource or attribute name'),
    ({'pbs.l.mem': '1 gb'}, 'cannot be written in a #PBS line'),
    ({'pbs.W.depend': True}, '-W needs a value'),
    ({'pbs.l.select': [1, {'ncpus': 4}]}, 'allowed: str, int, float or bool'),
])
def test_bad_custom_attributes_name_their_key(attributes: 'dict[str, object]',
                                              needle: str) -> None:
    with pytest.raises(InvalidJobException) as raised:
        custom_directives(attributes, 'pbs')
    key = next(iter(attributes))
    assert f"custom_attributes[{key!r}]" in str(raised.value)
    assert needle in str(raised.value)


def test_ids_printed_differently_are_matched_by_sequence_number() -> None:
    requested = ['12.pbs01.example.org', '13', '14[].pbs01', '15.a', '15.b']
    printed = ['12.pbs01', '13.pbs01.example.org', '14[].pbs01', '15.c', '99.pbs01']
    assert match_ids(printed, requested) == {'12.pbs01': '12.pbs01.example.org',
                                             '13.pbs01.example.org': '13',
                                             '14[].pbs01': '14[].pbs01'}


def test_native_id_forms() -> None:
    for native_id in ('123', '123.server', '123.pbs-01.example.org', '123[].server',
                      '123[4].server'):
        assert pbs.is_valid_native_id(native_id) and torque.is_valid_native_id(native_id)
    for native_id in ('../etc', '.123', '123 ', 'abc', '123/4', ''):
        assert not pbs.is_valid_native_id(native_id)


def test_lenient_json_repairs_what_old_releases_printed() -> None:
    document = load_qstat_json('{"Jobs":{"1.s":{"V":{"A":"ab\\,c","B":"\\\'x\\\'","N":005}}}}')
    assert document == {'Jobs': {'1.s': {'V': {'A': 'ab,c', 'B': "'x'", 'N': '005'}}}}


@pytest.mark.parametrize('text', ['[1, 2]', '{"Jobs": {"1.s": {"comment": "a "b" c"}}}'])
def test_json_that_cannot_be_read_is_a_command_failure(text: str) -> None:
    with pytest.raises(StatusCommandError):
        load_qstat_json(text)


# --- what a finished job's exit status means (shared by both schedulers) --------------------

def _final(record: JobRecord, scheduler: 'PbsPro | Torque' = pbs) -> 'tuple[object, ...]':
    status = scheduler.record_status(record)
    return status.state, status.exit_code, status.message, status.complete


def test_exit_statuses_of_finished_jobs() -> None:
    assert _final(JobRecord('F', 0, ran=True)) == (JobState.COMPLETED, 0, None, True)
    assert _final(JobRecord('F', 3, ran=True)) == (JobState.FAILED, 3, None, True)
    assert _final(JobRecord('F', 265, ran=True)) == (
        JobState.FAILED, -9, 'killed by SIGKILL (PBS Exit_status 265)', True)
    assert _final(JobRecord('C', 271, ran=True), torque) == (
        JobState.FAILED, -15, 'killed by SIGTERM (Torque exit_status 271)', True)


def test_walltime_kills_name_the_limit() -> None:
    assert _final(JobRecord('F', -29, ran=True, walltime_limit=120)) == (
        JobState.FAILED, None, 'walltime limit of 0:02:00 reached (PBS Exit_status -29)', True)
    assert _final(JobRecord('F', 271, ran=True, walltime_limit=60, walltime_used=65)) == (
        JobState.FAILED, -15, 'walltime limit of 0:01:00 reached (PBS Exit_status 271)', True)
    # A signal well within the limit is not the limit.
    assert _final(JobRecord('F', 271, ran=True, walltime_limit=60, walltime_used=30))[0:2] == (
        JobState.FAILED, -15)
    assert _final(JobRecord('C', -11, ran=True), torque)[2] == \
        'walltime limit reached (Torque exit_status -11)'
    # -11 is not the walltime for PBS Professional (JOB_EXEC_RERUN).
    assert _final(JobRecord('F', -11, ran=True))[2] == 'the job was rerun (PBS Exit_status -11)'


def test_deleted_jobs_are_canceled() -> None:
    assert _final(JobRecord('F', None, ran=False, deleted=True)) == (
        JobState.CANCELED, None, 'deleted before it started', True)
    assert _final(JobRecord('F', 271, ran=True, deleted=True)) == (
        JobState.CANCELED, -15, 'deleted while running: killed by SIGTERM (PBS Exit_status 271)',
        True)
    assert _final(JobRecord('C', None, ran=False), torque)[0] == JobState.CANCELED


def test_ended_without_exit_status_waits_for_the_marker() -> None:
    # Slurm's Torque-compatible qstat: state C, never an exit status.
    assert _final(JobRecord('C', None, ran=True), torque) == (JobState.FAILED, None, None, False)


def test_internal_failures_say_why() -> None:
    state, code, message, _ = _final(JobRecord('F', -20, ran=True, comment='requeued'))
    assert (state, code) == (JobState.FAILED, None)
    assert message == ('the job was requeued: the server could not reach its execution host '
                       '(MoM) (PBS Exit_status -20); comment: requeued')
    assert _final(JobRecord('F', -99, ran=True))[2] == 'PBS could not run the job (PBS ' \
                                                      'Exit_status -99)'


def test_waiting_and_running_states() -> None:
    assert pbs.record_status(JobRecord('Q', comment='Not Running: no nodes')).message == \
        'queued: Not Running: no nodes'
    assert pbs.record_status(JobRecord('H')).message == 'held'
    for letter in 'QHWT':
        assert pbs.record_status(JobRecord(letter)).state == JobState.QUEUED
    for letter in 'RESBU':
        assert pbs.record_status(JobRecord(letter)).state == JobState.ACTIVE
    moved = pbs.record_status(JobRecord('M'))
    assert (moved.state, moved.complete) == (JobState.FAILED, False)
    assert pbs.record_status(JobRecord('Z')).state == JobState.NEW  # unknown: ignored
