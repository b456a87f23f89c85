"""PBS Professional's parsers against output samples in the vendor's formats
(tests/fixtures/pbs, whose README names the source each file was modelled on)."""

import pathlib
from typing import Optional, Sequence

import pytest
from batch_helpers import job_script
from psij.executors.pbs import PbsPro

from psij import InvalidJobException, JobState, SubmitException
from psij.batch import CancelOutcome, StatusCommandError, SubmitCommand
from psij.transport import CommandResult

FIXTURES = pathlib.Path(__file__).parent / 'fixtures' / 'pbs'
pbs = PbsPro()


def sample(name: str, returncode: Optional[int] = 0,
           argv: Sequence[str] = ('pbs-command',)) -> CommandResult:
    """A CommandResult of ``NAME.txt`` (stdout) and ``NAME.stderr.txt``, where they exist."""
    stdout = FIXTURES / f'{name}.txt'
    stderr = FIXTURES / f'{name}.stderr.txt'
    assert stdout.exists() or stderr.exists(), f'no fixture {name}'
    return CommandResult(argv, returncode, stdout.read_text() if stdout.exists() else '',
                         stderr.read_text() if stderr.exists() else '')


# --- qstat -f -F json -x ---------------------------------------------------------------------

def test_status_command_asks_once_for_all_jobs_with_history() -> None:
    assert pbs.status_command(['1.s', '2.s']) == ['qstat', '-f', '-F', 'json', '-x', '1.s',
                                                  '2.s']


def test_finished_job() -> None:
    statuses = pbs.parse_status_output(sample('qstat-json-finished'), ['40.pbs'])
    status = statuses['40.pbs']
    assert (status.state, status.exit_code, status.native_state) == (JobState.COMPLETED, 0, 'F')


def test_every_state_in_one_answer() -> None:
    ids = [f'{n}.pbsserver' for n in range(101, 118)]
    ids[11] = '112[].pbsserver'
    statuses = pbs.parse_status_output(sample('qstat-json-mixed'), ids)
    found = {native_id.split('.')[0]: (status.state, status.exit_code, status.message)
             for native_id, status in statuses.items()}
    assert found == {
        '101': (JobState.ACTIVE, None, None),
        '102': (JobState.QUEUED, None, 'queued: Not Running: Insufficient amount of resource: '
                                       'ncpus (R: 256 A: 128 T: 1024)'),
        '103': (JobState.QUEUED, None, 'held: Job held by alice on Wed Mar 17 20:41:02 2021'),
        '104': (JobState.FAILED, 3, None),
        '105': (JobState.FAILED, -15, 'walltime limit of 0:20:00 reached (PBS Exit_status 271)'),
        '106': (JobState.FAILED, None, 'walltime limit of 0:20:00 reached (PBS Exit_status '
                                       '-29)'),
        '107': (JobState.CANCELED, None, 'deleted before it started'),
        '108': (JobState.CANCELED, -15, 'deleted while running: killed by SIGTERM (PBS '
                                        'Exit_status 271)'),
        '109': (JobState.FAILED, None, 'the job used more memory than it was given (mem) (PBS '
                                       'Exit_status -27); comment: Job run at Wed Mar 17 at '
                                       '20:36 on (node01:ncpus=4) and failed'),
        '110': (JobState.ACTIVE, None, None),
        '111': (JobState.QUEUED, None, 'waiting for its start time: Not Running: Job is '
                                       'waiting for its execution time (Execution_Time '
                                       'attribute)'),
        '112[]': (JobState.ACTIVE, None, None),
        '113': (JobState.FAILED, None, 'moved to another PBS server, where this executor '
                                       'cannot follow it'),
        '114': (JobState.FAILED, -9, 'killed by SIGKILL (PBS Exit_status 265)'),
        '115': (JobState.ACTIVE, None, None),
        '116': (JobState.COMPLETED, 0, None),
        '117': (JobState.FAILED, None, 'the job was requeued: the server could not reach its '
                                       'execution host (MoM) (PBS Exit_status -20); comment: '
                                       'Job run at Wed Mar 17 at 20:36 on (node01:ncpus=4) '
                                       'and finished'),
    }
    assert not statuses['113.pbsserver'].complete  # only the marker or time can settle it
    assert all(status.complete for native_id, status in statuses.items()
               if native_id != '113.pbsserver')


def test_jobs_not_asked_for_are_left_out() -> None:
    statuses = pbs.parse_status_output(sample('qstat-json-mixed'), ['104.pbsserver'])
    assert list(statuses) == ['104.pbsserver']


def test_unknown_job_is_left_out_not_an_error() -> None:
    result = sample('qstat-json-unknown-one', returncode=153)
    assert pbs.parse_status_output(result, ['130000000.gadi-pbs']) == {}


def test_one_unknown_among_known_keeps_the_known() -> None:
    known = sample('qstat-json-finished').stdout
    unknown = sample('qstat-json-unknown-one').stderr
    result = CommandResult(['qstat'], 153, known, unknown)
    assert pbs.parse_status_output(result, ['40.pbs', '130000000.gadi-pbs'])[
        '40.pbs'].state == JobState.COMPLETED


@pytest.mark.parametrize('name, returncode, needle', [
    ('qstat-json-cannot-connect', 255, 'Communication failure'),
    ('qstat-json-premature-end', 183, 'Premature end of message'),
])
def test_server_trouble_is_a_command_failure(name: str, returncode: int, needle: str) -> None:
    with pytest.raises(StatusCommandError, match=needle):
        pbs.parse_status_output(sample(name, returncode=returncode), ['1.aqua'])


def test_unknown_job_with_another_complaint_is_a_command_failure() -> None:
    result = CommandResult(['qstat'], 153, '', 'qstat: Unknown Job Id 1.s\n'
                           'qstat: Premature end of message 2.s\n')
    with pytest.raises(StatusCommandError):
        pbs.parse_status_output(result, ['1.s', '2.s'])


def test_qstat_that_did_not_run_is_a_command_failure() -> None:
    with pytest.raises(StatusCommandError, match='no answer'):
        pbs.parse_status_output(CommandResult(['qstat'], None, '', 'qstat: no answer after '
                                                                   '60 s'), ['1.s'])


def test_invalid_json_of_older_releases_is_repaired() -> None:
    statuses = pbs.parse_status_output(sample('qstat-json-invalid-escapes'), ['7.pbsserver'])
    assert statuses['7.pbsserver'].state == JobState.ACTIVE


def test_json_that_cannot_be_repaired_is_a_command_failure() -> None:
    with pytest.raises(StatusCommandError, match='cannot be read'):
        pbs.parse_status_output(sample('qstat-json-unescaped-quote'), ['8.pbsserver'])


@pytest.mark.parametrize('stdout', ['', '{"Jobs": [1, 2]}', '{"Jobs": {"1.s": {}}}',
                                    'Job Id: 1.s\n    job_state = R\n'])
def test_output_that_is_not_a_status_is_a_command_failure_or_empty(stdout: str) -> None:
    result = CommandResult(['qstat'], 0, stdout, '')
    if not stdout:
        assert pbs.parse_status_output(result, ['1.s']) == {}
        return
    with pytest.raises(StatusCommandError):
        pbs.parse_status_output(result, ['1.s'])


# --- qsub ----------------------------------------------------------------------------------

def test_submit_prints_the_id() -> None:
    assert pbs.submit_command(job_script('/w/job.sh')) == SubmitCommand(['qsub', '/w/job.sh'])
    assert pbs.parse_submit_output(sample('qsub')) == '0.pbspro'


@pytest.mark.parametrize('name, returncode, field', [
    ('qsub-unknown-queue', 170, 'JobAttributes.queue_name'),
    ('qsub-resource-limits', 188, 'JobSpec.resources'),
    ('qsub-unknown-resource', 2, 'JobAttributes.custom_attributes'),
    ('qsub-bad-walltime', 2, 'JobAttributes.duration'),
])
def test_refusals_name_the_field(name: str, returncode: int, field: str) -> None:
    with pytest.raises(InvalidJobException) as raised:
        pbs.parse_submit_output(sample(name, returncode=returncode))
    assert str(raised.value).startswith(field)
    assert 'qsub said: qsub: ' in str(raised.value)


def test_unreachable_server_is_a_transient_submit_failure() -> None:
    with pytest.raises(SubmitException) as raised:
        pbs.parse_submit_output(sample('qsub-cannot-connect', returncode=162))
    assert raised.value.transient
    assert 'cannot connect to server' in str(raised.value)


def test_qsub_without_an_id_is_a_failure() -> None:
    with pytest.raises(SubmitException, match='printed no job id'):
        pbs.parse_submit_output(CommandResult(['qsub'], 0, 'Welcome to the cluster!\n', ''))


# --- qdel and qselect ----------------------------------------------------------------------

@pytest.mark.parametrize('name, returncode', [
    ('qdel-finished', 35), ('qdel-unknown', 153)])
def test_cancel_of_a_job_that_ended_says_so(name: str, returncode: int) -> None:
    assert pbs.parse_cancel_output(sample(name, returncode=returncode), ['0.pbspro']) == \
        {'0.pbspro': CancelOutcome.ALREADY_ENDED}


def test_refused_cancel_is_an_error() -> None:
    with pytest.raises(SubmitException, match='Unauthorized Request'):
        pbs.parse_cancel_output(sample('qdel-unauthorized', returncode=159), ['101.pbsserver'])


def test_list() -> None:
    assert pbs.list_command('alice') == ['qselect', '-u', 'alice']
    assert pbs.parse_list_output(sample('qselect')) == [
        '101.pbsserver', '102.pbsserver', '103.pbsserver', '112[].pbsserver']
    with pytest.raises(StatusCommandError):
        pbs.parse_list_output(CommandResult(['qselect'], 0, 'usage: qselect ...\n', ''))
    with pytest.raises(StatusCommandError):
        pbs.parse_list_output(CommandResult(['qselect'], 1, '', 'qselect: cannot connect'))
