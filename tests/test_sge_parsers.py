"""Grid Engine's parsers against output captured from the real tools (tests/fixtures/sge, whose
README says which command and job made each file, and ids.txt which job played which part)."""

import os
import pathlib
import subprocess
from typing import Dict, Optional, Sequence

import pytest
from psij.executors.sge import GridEngine, job_status, sge_job_name
from psij.executors.sge_accounting import accounting_status

from psij import InvalidJobException, JobSpec, JobState, SubmitException
from psij.batch import (
    AccountingUnavailable,
    CancelOutcome,
    SchedulerStatus,
    StatusCommandError,
    job_name,
)
from psij.transport import CommandResult

FIXTURES = pathlib.Path(__file__).parent / 'fixtures' / 'sge'
IDS: Dict[str, str] = dict(
    line.split() for line in (FIXTURES / 'ids.txt').read_text().splitlines() if line.strip())


def captured(name: str, returncode: Optional[int] = 0,
             argv: Sequence[str] = ('sge-command',)) -> CommandResult:
    """A CommandResult made of the captured stdout (and stderr, if captured) of ``name``."""
    stderr_file = FIXTURES / f'{name}.stderr.txt'
    stderr = stderr_file.read_text() if stderr_file.exists() else ''
    return CommandResult(argv, returncode, (FIXTURES / f'{name}.txt').read_text(), stderr)


def _state(status: Optional[SchedulerStatus]) -> Optional[JobState]:
    return None if status is None else status.state


# --- qstat -xml ------------------------------------------------------------------------------

def test_qstat_states_of_every_kind_of_job() -> None:
    roles = ['running', 'held', 'pending', 'error', 'suspended', 'deleting', 'array']
    statuses = GridEngine().parse_status_output(captured('qstat-xml-mixed'),
                                                [IDS[role] for role in roles])
    by_role = {role: statuses.get(IDS[role]) for role in roles}
    assert {role: _state(status) for role, status in by_role.items()} == {
        'running': JobState.ACTIVE, 'held': JobState.QUEUED, 'pending': JobState.QUEUED,
        'error': JobState.FAILED, 'suspended': JobState.ACTIVE, 'deleting': JobState.ACTIVE,
        'array': JobState.ACTIVE}
    assert {role: status.native_state for role, status in by_role.items() if status} == {
        'running': 'r', 'held': 'hqw', 'pending': 'qw', 'error': 'Eqw', 'suspended': 's',
        'deleting': 'dr', 'array': 'r'}
    assert by_role['held'] is not None and by_role['held'].message == 'held (hqw)'
    # An error state is a failure, whose reason accounting has (complete=False: ask it).
    error = by_role['error']
    assert error is not None and error.message is not None and not error.complete
    assert error.message.startswith('error state (Eqw): Grid Engine could not start the job')
    assert f'`qstat -j {IDS["error"]}`' in error.message
    assert f'`qmod -cj {IDS["error"]}`' in error.message
    assert all(status.complete for role, status in by_role.items() if role != 'error' and status)
    assert by_role['pending'] is not None and by_role['pending'].message is None


def test_qstat_with_requests_and_full_names_gives_the_same_states() -> None:
    # -r (the same jobs a moment later) adds each job's requests and full name to the XML.
    plain = GridEngine().parse_status_output(captured('qstat-xml-mixed'), [])
    assert GridEngine().parse_status_output(captured('qstat-xml-array-r'), []) == plain
    assert sorted(GridEngine().parse_list_output(captured('qstat-xml-array-r'))) == sorted(plain)


def test_qstat_of_a_user_without_jobs() -> None:
    assert GridEngine().parse_status_output(captured('qstat-xml-empty'), ['1', '2']) == {}


def test_ended_jobs_shown_as_zombies_count_as_gone() -> None:
    assert GridEngine().parse_status_output(captured('qstat-xml-zombies'), ['1']) == {}


def test_qstat_with_the_qmaster_down_is_a_command_failure() -> None:
    with pytest.raises(StatusCommandError, match='commlib error'):
        GridEngine().parse_status_output(captured('qstat-xml-down', returncode=1), ['1'])


@pytest.mark.parametrize('stdout', ['', 'error: something\n', '<job_info><job_list>',
                                    '<other/>', '<job_info><job_list><state>r</state>'
                                    '</job_list></job_info>'])
def test_qstat_output_that_is_not_its_xml_is_a_command_failure(stdout: str) -> None:
    with pytest.raises(StatusCommandError):
        GridEngine().parse_status_output(CommandResult(['qstat'], 0, stdout, ''), ['1'])


def test_qstat_that_did_not_run_is_a_command_failure() -> None:
    result = CommandResult(['qstat'], None, '', 'qstat: no answer after 60 s')
    with pytest.raises(StatusCommandError, match='no answer'):
        GridEngine().parse_status_output(result, ['1'])


def test_control_characters_in_a_job_name_do_not_break_the_xml() -> None:
    text = (FIXTURES / 'qstat-xml-mixed.txt').read_text().replace(
        '<JB_name>cap_running</JB_name>', '<JB_name>cap\x01\x1frunning</JB_name>')
    statuses = GridEngine().parse_status_output(CommandResult(['qstat'], 0, text, ''), [])
    assert _state(statuses[IDS['running']]) == JobState.ACTIVE


@pytest.mark.parametrize('state, expected', [
    ('qw', JobState.QUEUED), ('hqw', JobState.QUEUED), ('hRwq', JobState.QUEUED),
    ('Rq', JobState.QUEUED), ('Eqw', JobState.FAILED), ('Ehqw', JobState.FAILED),
    ('r', JobState.ACTIVE), ('t', JobState.ACTIVE), ('Rr', JobState.ACTIVE),
    ('Rt', JobState.ACTIVE), ('s', JobState.ACTIVE), ('S', JobState.ACTIVE),
    ('T', JobState.ACTIVE), ('tS', JobState.ACTIVE), ('dr', JobState.ACTIVE),
    ('dRr', JobState.ACTIVE), ('ds', JobState.ACTIVE),
])
def test_job_states(state: str, expected: JobState) -> None:
    assert _state(job_status(state)) == expected


@pytest.mark.parametrize('state', ['', 'z', 'x', 'rX', 'd', 'h'])
def test_states_not_known_here_are_none(state: str) -> None:
    assert job_status(state) is None


def test_an_unknown_state_keeps_the_job_known() -> None:
    text = (FIXTURES / 'qstat-xml-mixed.txt').read_text().replace(
        '<state>qw</state>', '<state>Xqw</state>', 1)
    statuses = GridEngine().parse_status_output(CommandResult(['qstat'], 0, text, ''), [])
    assert statuses[IDS['pending']] == SchedulerStatus(JobState.NEW, 'Xqw')


# --- qdel ----------------------------------------------------------------------------------

@pytest.mark.parametrize('name, role', [('qdel-pending', 'held'), ('qdel-running', 'running'),
                                        ('qdel-error', 'error')])
def test_qdel_that_deleted_is_requested(name: str, role: str) -> None:
    assert GridEngine().parse_cancel_output(captured(name), [IDS[role]]) == \
        {IDS[role]: CancelOutcome.REQUESTED}


def test_qdel_registered_for_deletion_is_requested() -> None:
    deleting = IDS['deleting']
    said = CommandResult(['qdel'], 0, f'root has registered the job {deleting} for deletion\n', '')
    assert GridEngine().parse_cancel_output(said, [deleting]) == {
        deleting: CancelOutcome.REQUESTED}


def test_a_deleted_job_still_in_the_queue_keeps_its_state() -> None:
    statuses = GridEngine().parse_status_output(captured('qstat-xml-mixed'), [IDS['deleting']])
    assert statuses[IDS['deleting']].native_state == 'dr'


@pytest.mark.parametrize('name, native_id', [('qdel-unknown', '999999'),
                                             ('qdel-finished', IDS['running'])])
def test_qdel_of_a_job_that_ended_says_so(name: str, native_id: str) -> None:
    assert GridEngine().parse_cancel_output(captured(name, returncode=1), [native_id]) == \
        {native_id: CancelOutcome.ALREADY_ENDED}


def test_qdel_without_the_privileges_fails() -> None:
    with pytest.raises(SubmitException, match='necessary privileges') as raised:
        GridEngine().parse_cancel_output(captured('qdel-other-user', returncode=1),
                                         [IDS['pending']])
    assert not raised.value.transient


def test_qdel_with_the_qmaster_down_fails_transiently() -> None:
    with pytest.raises(SubmitException, match='qmaster') as raised:
        GridEngine().parse_cancel_output(captured('qdel-down', returncode=1), [IDS['pending']])
    assert raised.value.transient


# --- qacct ---------------------------------------------------------------------------------

def _accounting() -> Dict[str, SchedulerStatus]:
    roles = ['completed', 'exit3', 'selfkill', 'usr1', 'timelimit', 'running', 'held', 'error',
             'rerun', 'unknown']
    return GridEngine().parse_accounting_output(captured('accounting-all'),
                                                [IDS[role] for role in roles])


def test_accounting_of_every_kind_of_end() -> None:
    records = _accounting()
    assert IDS['held'] not in records and IDS['unknown'] not in records
    assert records[IDS['completed']] == SchedulerStatus(
        JobState.COMPLETED, 'failed 0, exit_status 0', exit_code=0)
    assert records[IDS['exit3']] == SchedulerStatus(
        JobState.FAILED, 'failed 0, exit_status 3', exit_code=3)
    # The last record counts: error state first, then a run after `qmod -cj`.
    assert records[IDS['rerun']].state == JobState.COMPLETED


def test_accounting_of_a_time_limit_names_it() -> None:
    status = _accounting()[IDS['timelimit']]
    assert status.state == JobState.FAILED and status.exit_code is None
    assert status.message == (
        'time limit of 0:00:03 reached (Grid Engine: failed 37 : qmaster enforced h_rt, h_cpu, '
        'or h_vmem limit, exit_status 137)')


@pytest.mark.parametrize('role', ['running', 'selfkill'])
def test_accounting_of_a_sigkill_is_canceled_saying_how(role: str) -> None:
    # qdel and a SIGKILL from elsewhere leave the same record.
    status = _accounting()[IDS[role]]
    assert status.state == JobState.CANCELED
    assert status.message == ('deleted with qdel, or killed with SIGKILL (Grid Engine: failed '
                              '100 : assumedly after job, exit_status 137)')


def test_accounting_of_another_signal_is_failed_with_minus_the_signal() -> None:
    status = _accounting()[IDS['usr1']]
    assert (status.state, status.exit_code) == (JobState.FAILED, -10)
    assert status.message is not None and status.message.startswith('killed by SIGUSR1 (')


def test_accounting_of_a_job_that_could_not_start() -> None:
    status = _accounting()[IDS['error']]
    assert status.state == JobState.FAILED and status.exit_code is None
    assert status.message == (
        'Grid Engine could not start the job (Grid Engine: failed 28 : changing into working '
        f'directory, exit_status 0); unless it was deleted, it waits in error state (Eqw): '
        f'`qmod -cj {IDS["error"]}` runs it again, `qdel {IDS["error"]}` deletes it')


def _one_qacct(name: str, native_id: str, returncode: int) -> CommandResult:
    """The accounting command's output for one job, made of the capture of its own
    ``qacct -j``: stderr merged (``2>&1``) and framed as `accounting_command` frames it."""
    answer = captured(name)
    return CommandResult(['sh'], 0, f'psij-qacct-begin {native_id}\n{answer.stderr}'
                         f'{answer.stdout}psij-qacct-end {native_id} {returncode}\n', '')


@pytest.mark.parametrize('name, role, returncode, expected', [
    ('qacct-completed', 'completed', 0, JobState.COMPLETED),
    ('qacct-exit3', 'exit3', 0, JobState.FAILED),
    ('qacct-selfkill', 'selfkill', 0, JobState.CANCELED),
    ('qacct-usr1', 'usr1', 0, JobState.FAILED),
    ('qacct-timelimit', 'timelimit', 0, JobState.FAILED),
    ('qacct-qdel-running', 'running', 0, JobState.CANCELED),
    ('qacct-qdel-pending', 'held', 1, None),      # deleted before it started: no record
    ('qacct-error-deleted', 'error', 0, JobState.FAILED),
    ('qacct-rerun', 'rerun', 0, JobState.COMPLETED),  # two records: the last one counts
    ('qacct-unknown', 'unknown', 1, None),
])
def test_each_qacct_capture(name: str, role: str, returncode: int,
                            expected: Optional[JobState]) -> None:
    native_id = IDS[role]
    result = _one_qacct(name, native_id, returncode)
    # The same answer as the accounting command got for the job (accounting-all).
    assert result.stdout in captured('accounting-all').stdout
    records = GridEngine().parse_accounting_output(result, [native_id])
    assert _state(records.get(native_id)) == expected
    assert records.get(native_id) == _accounting().get(native_id)


def test_qacct_without_an_accounting_file() -> None:
    result = _one_qacct('qacct-no-file', IDS['completed'], 1)
    assert result.stdout in captured('accounting-no-file').stdout
    with pytest.raises(AccountingUnavailable):
        GridEngine().parse_accounting_output(result, [IDS['completed']])


def test_accounting_of_an_unknown_job_is_empty() -> None:
    assert GridEngine().parse_accounting_output(captured('accounting-unknown'),
                                                ['999999']) == {}


def test_accounting_without_an_accounting_file_is_unavailable() -> None:
    with pytest.raises(AccountingUnavailable, match='accounting file'):
        GridEngine().parse_accounting_output(captured('accounting-no-file'),
                                             [IDS['completed'], IDS['held']])


def test_accounting_command_runs_qacct_once_per_job_in_one_shell() -> None:
    argv = GridEngine().accounting_command(['12', '13'])
    assert argv is not None and argv[:2] == ['sh', '-c'] and argv[3:] == ['psij-qacct', '12',
                                                                         '13']
    assert 'qacct -j "$id"' in argv[2]


@pytest.mark.parametrize('stdout', [
    'psij-qacct-begin 1\n',                                   # cut short
    'garbage\npsij-qacct-begin 1\npsij-qacct-end 1 1\n',      # text outside an answer
    'psij-qacct-begin 1\nsomething odd\npsij-qacct-end 1 0\n',  # not a record
    'psij-qacct-begin 1\nerror: permission denied\npsij-qacct-end 1 1\n',
    'psij-qacct-begin 1\n====\njobnumber 1\npsij-qacct-end 1 0\n',  # no failed/exit_status
])
def test_accounting_output_that_cannot_be_read_is_a_command_failure(stdout: str) -> None:
    with pytest.raises(StatusCommandError):
        GridEngine().parse_accounting_output(CommandResult(['sh'], 0, stdout, ''), ['1'])


def test_accounting_that_did_not_run_is_a_command_failure() -> None:
    with pytest.raises(StatusCommandError, match='no answer'):
        GridEngine().parse_accounting_output(
            CommandResult(['sh'], None, '', 'sh: no answer after 60 s'), ['1'])


@pytest.mark.parametrize('record, state, exit_code, message', [
    # A SIGKILL once the wall clock reached h_rt is the time limit (execd-enforced limits).
    ({'failed': '100 : assumedly after job', 'exit_status': '137', 'category': '-l h_rt=60',
      'ru_wallclock': '61s'}, JobState.FAILED, None, 'time limit of 0:01:00 reached'),
    ({'failed': '100 : assumedly after job', 'exit_status': '137',
      'category': '-q all.q -l h_vmem=1G,h_rt=1:00:00', 'ru_wallclock': '12'},
     JobState.CANCELED, None, 'deleted with qdel'),
    ({'failed': '37  : qmaster enforced h_rt, h_cpu, or h_vmem limit', 'exit_status': '137',
      'category': 'NONE'}, JobState.FAILED, None, 'a limit enforced by Grid Engine'),
    ({'failed': '100 : assumedly after job', 'exit_status': '1'}, JobState.FAILED, 1,
     'ended abnormally'),
    ({'failed': '25  : rescheduling', 'exit_status': '0'}, JobState.FAILED, None,
     'the job failed in Grid Engine (Grid Engine: failed 25 : rescheduling'),
    ({'failed': '26  : opening input/output file', 'exit_status': '0', 'start_time': '-/-',
      'jobnumber': '12'}, JobState.FAILED, None, 'it waits in error state (Eqw): `qmod -cj 12`'),
    ({'failed': '0', 'exit_status': '137'}, JobState.FAILED, 137, None),
])
def test_accounting_records(record: Dict[str, str], state: JobState, exit_code: Optional[int],
                            message: Optional[str]) -> None:
    status = accounting_status(record)
    assert status is not None
    assert (status.state, status.exit_code) == (state, exit_code)
    if message is None:
        assert status.message is None
    else:
        assert message in (status.message or '')


# --- qsub -terse -----------------------------------------------------------------------------

@pytest.mark.parametrize('name', ['qsub-ok', 'qsub-warning', 'qsub-array'])
def test_qsub_prints_the_id_last(name: str) -> None:
    expected = (FIXTURES / f'{name}.txt').read_text().split()[-1].split('.')[0]
    assert GridEngine().parse_submit_output(captured(name)) == expected
    assert expected.isdigit()


@pytest.mark.parametrize('name, field', [
    ('qsub-unknown-queue', 'JobAttributes.queue_name'),
    ('qsub-unknown-pe', "custom_attributes['sge.pe']"),
    ('qsub-unknown-project', 'JobAttributes.account'),
    ('qsub-exclusive', 'ResourceSpecV1.exclusive_node_use'),
    ('qsub-unknown-resource', "custom_attributes['sge.l']"),
    ('qsub-bad-time', 'JobAttributes.duration'),
    ('qsub-bad-memory', 'ResourceSpecV1.memory'),
    ('qsub-unknown-ar', 'JobAttributes.reservation_id'),
    ('qsub-bad-option', "custom_attributes['sge.*']"),
    ('qsub-never-runs', 'JobSpec.resources'),
])
def test_qsub_refusals_name_the_field(name: str, field: str) -> None:
    with pytest.raises(InvalidJobException) as raised:
        GridEngine().parse_submit_output(captured(name, returncode=1))
    assert field in str(raised.value)
    assert 'qsub said: Unable to run job' in str(raised.value) or 'qsub said: qsub:' in str(
        raised.value)


@pytest.mark.parametrize('name', ['qsub-name-space', 'qsub-missing-script', 'qsub-name-digit',
                                  'qsub-name-keyword', 'qsub-name-colon'])
def test_other_qsub_refusals_are_submit_errors(name: str) -> None:
    with pytest.raises(SubmitException) as raised:
        GridEngine().parse_submit_output(captured(name, returncode=1))
    assert not isinstance(raised.value, InvalidJobException)
    assert not raised.value.transient
    assert 'Exiting.' not in str(raised.value)


@pytest.mark.parametrize('name, refused', [
    ('qsub-name-space', 'a b'), ('qsub-name-digit', '1abc'), ('qsub-name-keyword', 'none'),
    ('qsub-name-colon', 'a:b'),
])
def test_psij_never_writes_a_job_name_qsub_refused(name: str, refused: str) -> None:
    assert captured(name, returncode=1).stderr.startswith('Unable to run job: ')
    assert sge_job_name(job_name(JobSpec('/bin/true', name=refused))) != refused


def test_qsub_with_the_qmaster_down_is_transient() -> None:
    with pytest.raises(SubmitException, match='unable to send message to qmaster') as raised:
        GridEngine().parse_submit_output(captured('qsub-down', returncode=1))
    assert raised.value.transient


# --- list ------------------------------------------------------------------------------------

def test_list_gives_each_job_once() -> None:
    ids = GridEngine().parse_list_output(captured('qstat-xml-mixed'))
    assert sorted(ids) == sorted(IDS[role] for role in [
        'running', 'held', 'pending', 'error', 'suspended', 'deleting', 'array'])


def test_list_with_the_qmaster_down_fails() -> None:
    with pytest.raises(StatusCommandError):
        GridEngine().parse_list_output(captured('qstat-xml-down', returncode=1))


def test_status_and_list_commands_name_the_user() -> None:
    argv = GridEngine().status_command(['1'])
    assert argv[:3] == ['qstat', '-xml', '-u'] and len(argv) == 4 and argv[3]
    assert GridEngine().list_command('alice') == ['qstat', '-xml', '-u', 'alice']


# --- what a parallel job sees --------------------------------------------------------------

@pytest.mark.parametrize('name', ['pe-hostfile-smp2', 'pe-hostfile-mpi3'])
def test_the_node_file_has_a_line_per_slot_granted(name: str, tmp_path: pathlib.Path) -> None:
    # The job printed its $PE_HOSTFILE, then "NSLOTS=N NHOSTS=M".
    lines = captured(name).stdout.splitlines()
    hostfile, counts = lines[:-1], dict(word.split('=') for word in lines[-1].split())
    (tmp_path / 'pe_hostfile').write_text(''.join(f'{line}\n' for line in hostfile))
    template = GridEngine().template()
    function = template[template.index('psij_write_nodefile() {'):]
    function = function[:function.index('\n}\n') + 3]
    written = subprocess.run(
        ['bash', '-c', f'{function}psij_write_nodefile'], capture_output=True, text=True,
        check=True, env={'PATH': os.environ['PATH'], 'PE_HOSTFILE': str(tmp_path / 'pe_hostfile')},
    ).stdout.splitlines()
    assert len(written) == int(counts['NSLOTS'])
    assert len(set(written)) == int(counts['NHOSTS'])
    assert set(written) == {line.split()[0] for line in hostfile}
