"""Grid Engine's parsers against output captured from the real tools (tests/fixtures/sge, whose
README says which command and job made each file, and ids.txt which job played which part)."""

import os
import pathlib
import subprocess
from typing import Dict, List, Optional, Sequence, Set, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st
from psij.executors.sge import GridEngine, job_status, sge_job_name
from psij.executors.sge_accounting import accounting_status
from psij.executors.sge_arrays import TaskList

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


# --- arrays ----------------------------------------------------------------------------------

def _elements(role: str, tasks: Sequence[int]) -> List[str]:
    return [f'{IDS[role]}.{task}' for task in tasks]


def test_qstat_gives_each_element_of_an_array_running_or_pending() -> None:
    running = _elements('array_running', range(1, 13))
    held = _elements('array_held', range(1, 7))
    step = _elements('array_step', range(1, 11))
    asked = running + held + step + [IDS['hold_jid'], IDS['array_running']]
    statuses = GridEngine().parse_status_output(captured('qstat-xml-arrays'), asked)
    states = {native_id: (status.state, status.native_state)
              for native_id, status in statuses.items() if native_id in asked}
    # -tc 3: three tasks run, each on its own line; the other nine are one range (4-12:1).
    assert [states.get(native_id) for native_id in running] == \
        [(JobState.ACTIVE, 'r')] * 3 + [(JobState.QUEUED, 'qw')] * 9
    # Tasks 2-4 were deleted: the held rest is listed as 1,5,6.
    assert [native_id for native_id in held if native_id in states] == \
        _elements('array_held', [1, 5, 6])
    assert {states[native_id] for native_id in _elements('array_held', [1, 5, 6])} == {
        (JobState.QUEUED, 'hqw')}
    # -t 2-10:2 is pending as 2-10:2: the odd ones never existed.
    assert [native_id for native_id in step if native_id in states] == \
        _elements('array_step', [2, 4, 6, 8, 10])
    # A job waiting for another (-hold_jid) is held; an array's own number is ACTIVE while
    # a task of it runs.
    assert states[IDS['hold_jid']] == (JobState.QUEUED, 'hqw')
    assert states[IDS['array_running']] == (JobState.ACTIVE, 'r')


def test_qstat_element_ids_of_other_arrays_and_tasks_are_not_invented() -> None:
    asked = _elements('array_running', [0, 13, 120]) + _elements('hold_jid', [1])
    statuses = GridEngine().parse_status_output(captured('qstat-xml-arrays'), asked)
    assert not set(asked) & set(statuses)


def test_qstat_with_a_task_list_that_cannot_be_read_is_a_command_failure() -> None:
    text = captured('qstat-xml-arrays').stdout.replace('<tasks>4-12:1</tasks>',
                                                       '<tasks>4-x</tasks>')
    with pytest.raises(StatusCommandError, match='4-x'):
        GridEngine().parse_status_output(CommandResult(['qstat'], 0, text, ''), ['1.1'])


@given(st.lists(st.tuples(st.integers(1, 60), st.integers(0, 20), st.integers(1, 5)),
                min_size=1, max_size=4),
       st.sets(st.integers(0, 100), max_size=30))
def test_a_task_list_holds_what_its_ranges_expand_to(ranges: List[Tuple[int, int, int]],
                                                     wanted: Set[int]) -> None:
    text = ','.join(f'{first}-{first + length}:{step}' if length else str(first)
                    for first, length, step in ranges)
    expanded = {task for first, length, step in ranges
                for task in range(first, first + length + 1, step if length else 1)}
    assert set(TaskList.parse(text).among(wanted)) == expanded & wanted


def test_a_long_pending_range_is_not_expanded() -> None:
    tasks = TaskList.parse('1-75000:1')
    assert sorted(tasks.among({5, 74999, 75001})) == [5, 74999]


@pytest.mark.parametrize('text', ['', '1-', '5-2:1', '1-4:0', 'a', '1;2'])
def test_text_that_is_no_task_list_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match='not a list of task ids'):
        TaskList.parse(text)


def test_an_array_submission_gives_its_job_and_elements() -> None:
    # qsub -terse printed JOB.1-4:1 for -t 1-4.
    native_id = GridEngine().parse_submit_output(captured('qsub-array'))
    first, tasks = captured('qsub-array').stdout.split()[-1].split('.')
    assert native_id == first
    assert tasks == '1-4:1'
    elements = GridEngine().element_ids(native_id, 4)
    assert elements == [f'{first}.{task}' for task in range(1, 5)]
    assert all(GridEngine().is_valid_native_id(element) for element in elements)


@pytest.mark.parametrize('native_id, valid', [
    ('3396', True), ('3396.4', True), ('3396.', False), ('3396_4', False), ('3396.1-4:1', False),
    ('.4', False), ('3396.4.1', False)])
def test_native_ids_are_jobs_or_elements(native_id: str, valid: bool) -> None:
    assert GridEngine().is_valid_native_id(native_id) == valid


def test_an_array_over_the_task_limit_names_the_count() -> None:
    with pytest.raises(InvalidJobException, match='JobArray.count'):
        GridEngine().parse_submit_output(captured('qsub-array-too-big', returncode=1))


def test_the_array_limit_is_max_aj_tasks() -> None:
    scheduler = GridEngine()
    assert scheduler.array_limit_command() == ['qconf', '-sconf']
    text = captured('qconf-sconf').stdout
    said = next(line.split()[1] for line in text.splitlines()
                if line.startswith('max_aj_tasks '))
    assert scheduler.parse_array_limit(captured('qconf-sconf')) == int(said)
    # 0 is no limit; a qconf that failed says nothing.
    unlimited = text.replace(f'max_aj_tasks                 {said}',
                             'max_aj_tasks                 0')
    assert unlimited != text
    assert scheduler.parse_array_limit(CommandResult(['qconf'], 0, unlimited, '')) is None
    assert scheduler.parse_array_limit(captured('qdel-down', returncode=1)) is None


@pytest.mark.parametrize('name, role, tasks, returncode, outcome', [
    ('qdel-array-tasks-pending', 'array_held', [2, 3, 4], 0, CancelOutcome.REQUESTED),
    ('qdel-array-task-running', 'array_running', [1], 0, CancelOutcome.REQUESTED),
    ('qdel-array-task-deleting', 'array_running', [1], 0, CancelOutcome.REQUESTED),
    ('qdel-array-task-gone', 'array_held', [3], 1, CancelOutcome.ALREADY_ENDED),
    ('qdel-array-ended', 'array_held', [1], 1, CancelOutcome.ALREADY_ENDED),
])
def test_qdel_of_array_elements(name: str, role: str, tasks: List[int], returncode: int,
                                outcome: CancelOutcome) -> None:
    native_ids = _elements(role, tasks)
    assert GridEngine().parse_cancel_output(captured(name, returncode=returncode),
                                            native_ids) == dict.fromkeys(native_ids, outcome)


def test_qdel_of_one_task_says_nothing_about_another() -> None:
    # "deleted job-array task N.2" is no answer about N.20, nor about the whole job N.
    for native_id in [*_elements('array_held', [20]), IDS['array_held']]:
        with pytest.raises(SubmitException):
            GridEngine().parse_cancel_output(captured('qdel-array-tasks-pending'),
                                             _elements('array_held', [2]) + [native_id])


def test_accounting_of_array_elements_is_per_task() -> None:
    tasks = _elements('array_exit', [2, 3])
    deleted = _elements('array_running', [5])
    asked = tasks + deleted + [IDS['hold_jid']]
    argv = GridEngine().accounting_command(asked)
    assert argv is not None and argv[4:] == [f'{IDS["array_exit"]}.2-3',
                                             f'{IDS["array_running"]}.5-5', IDS['hold_jid']]
    result = captured('accounting-array')
    # The answer for tasks 2-3 is what `qacct -j JOB -t 2-3` printed.
    assert captured('qacct-array-tasks').stdout in result.stdout
    records = GridEngine().parse_accounting_output(result, asked)
    # Task 2 exited 3, task 3 with 0; a task and a job deleted before they ran have no record.
    assert {native_id: (status.state, status.exit_code)
            for native_id, status in records.items()} == {
        tasks[0]: (JobState.FAILED, 3), tasks[1]: (JobState.COMPLETED, 0)}


def test_accounting_of_a_whole_array_and_of_its_tasks() -> None:
    number = IDS['array_exit']
    result = _one_qacct('qacct-array', number, 0)
    elements = _elements('array_exit', [1, 2, 3, 4])
    records = GridEngine().parse_accounting_output(result, [number])
    assert set(records) == {number}
    # The array's own number gets its last record: task 3's.
    assert (records[number].state, records[number].exit_code) == (JobState.COMPLETED, 0)
    framed = result.stdout.replace(f' {number}\n', f' {number}.1-4\n').replace(
        f' {number} 0\n', f' {number}.1-4 0\n')
    records = GridEngine().parse_accounting_output(CommandResult(['sh'], 0, framed, ''),
                                                   elements)
    assert {native_id: status.exit_code for native_id, status in records.items()} == {
        elements[0]: 0, elements[1]: 3, elements[2]: 0}


def test_accounting_of_tasks_without_records_is_empty() -> None:
    number = IDS['array_exit']
    answer = captured('qacct-array-tasks-unknown')
    assert answer.stdout == '' and 'not found' in answer.stderr
    result = CommandResult(['sh'], 0, f'psij-qacct-begin {number}.7-9\n{answer.stderr}'
                           f'psij-qacct-end {number}.7-9 1\n', '')
    assert GridEngine().parse_accounting_output(
        result, _elements('array_exit', [7, 9])) == {}
