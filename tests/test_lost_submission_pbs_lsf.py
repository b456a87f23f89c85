"""The look for a submission whose answer was lost, on PBS Professional, Torque and LSF: the
parsers on sample ``qstat -f`` and ``bjobs -o`` output (tests/fixtures/pbs, tests/fixtures/torque,
tests/fixtures/lsf; their READMEs say where each sample came from), and the executors against
the test doubles of tests/doubles/fake_pbs and tests/doubles/fake_lsf (no PBS server or LSF can
be installed here), whose qsub or bsub loses its answer: after it ran, or before.

LSF is looked at by the job description each script gives its job (``#BSUB -Jd "psij-job
<script stem>"``; see executors/lsf_submission.py).
"""

import json
import pathlib
import re
from typing import Iterator, List, Optional, Sequence

import pytest
from batch_backends import Backend, fake_lsf_backend, fake_pbs_backend
from batch_helpers import final_status
from psij.executors.lsf import Lsf
from psij.executors.lsf_submission import FIND_FORMAT
from psij.executors.pbs import PbsPro
from psij.executors.torque import Torque

from psij import Job, JobAttributes, JobExecutor, JobSpec, JobState
from psij.batch import BatchSchedulerExecutor, StatusCommandError
from psij.exceptions import InvalidJobException
from psij.transport import CommandResult, LocalTransport

TESTS = pathlib.Path(__file__).resolve().parent
PBS_FIXTURES = TESTS / 'fixtures' / 'pbs'
TORQUE_FIXTURES = TESTS / 'fixtures' / 'torque'
LSF_FIXTURES = TESTS / 'fixtures' / 'lsf'


def sample(folder: pathlib.Path, name: str, returncode: int = 0) -> CommandResult:
    stderr = folder / f'{name}.stderr.txt'
    return CommandResult(['qstat'], returncode, (folder / f'{name}.txt').read_text(),
                         stderr.read_text() if stderr.exists() else '')


def test_pbs_finds_the_job_by_the_last_of_its_submit_arguments() -> None:
    finished = sample(PBS_FIXTURES, 'qstat-json-finished')
    script = ('/tmp/Documents/buildtest/var/tests/generic.pbs.workq/hostname/pbs_sleep/3/'
              'stage/generate.sh')
    assert PbsPro().parse_find_submission(finished, script) == '40.pbs'
    assert PbsPro().parse_find_submission(finished, '/stage/generate.sh') is None
    assert PbsPro().parse_find_submission(finished, script[:-3]) is None


def test_pbs_finds_an_array_by_its_own_id() -> None:
    mixed = sample(PBS_FIXTURES, 'qstat-json-mixed')
    document = json.loads(mixed.stdout)
    only_array = {key: value for key, value in document['Jobs'].items() if '[]' in key}
    result = CommandResult(['qstat'], 0, json.dumps({**document, 'Jobs': only_array}), '')
    assert PbsPro().parse_find_submission(
        result, '/home/alice/.psij/work/pbs/job.sh') == '112[].pbsserver'


def test_pbs_without_jobs_finds_none_and_a_failing_server_is_an_error() -> None:
    assert PbsPro().parse_find_submission(sample(PBS_FIXTURES, 'qstat-json-unknown-one', 153),
                                          '/x.sh') is None
    with pytest.raises(StatusCommandError):
        PbsPro().parse_find_submission(sample(PBS_FIXTURES, 'qstat-json-cannot-connect', 255),
                                       '/x.sh')
    assert PbsPro().find_submission_command('alice') == ['qstat', '-f', '-F', 'json', '-x']


def test_torque_finds_the_job_in_text_and_in_xml() -> None:
    text = sample(TORQUE_FIXTURES, 'qstat-f-mixed')
    assert Torque().parse_find_submission(
        text, '/home/alice/.psij/work/torque/job.sh') == '3264860.mskcc-fe1.local'
    assert Torque().parse_find_submission(text, '/home/alice/.psij/work/torque/x.sh') is None
    xml = sample(TORQUE_FIXTURES, 'qstat-x-completed')
    assert Torque().parse_find_submission(xml, (
        '/net/isilon/otp/workflow-tests/tmp/RoddyBamFileWgsRoddySnvWorkflow-otp-web-2018-04-05-'
        '16-38-05-094+0200-k4FXdCscdyo3vAxl/root_path/projectDirName_22/sequencing/'
        'whole_genome_sequencing/view-by-pid/stds/snv_results/paired/sampletypename-24_'
        'sampletypename-43/results_SNVCallingWorkflow-1.2.166-1_v1_0_2018-04-05_16h39_+0200/'
        'roddyExecutionStore/exec_180405_163953553_otp-data_WGS/analysisTools/roddyTools/'
        'wrapInScript.sh')) == '4564045.pbsserver'


def test_slurms_torque_wrapper_shows_no_arguments_so_nothing_is_found() -> None:
    # Slurm's Torque-compatible qstat prints no submit_args: the look finds nothing there.
    wrapper = sample(TORQUE_FIXTURES, 'slurm-wrapper-qstat-f-mixed')
    assert Torque().parse_find_submission(wrapper, '/home/alice/sleep.sh') is None


LSF_JOB = '6c1d0b6e-5a4f-4c1e-9a55-3f1f0e2b7d10'
LSF_ARRAY = '0b8e7a52-2c9e-4d8f-8a1e-5d3c9f7e6a21-0'


def lsf_script(stem: str) -> str:
    return f'/home/alice/.psij/work/lsf/{stem}.sh'


def test_lsf_asks_for_every_job_of_the_user_with_its_description() -> None:
    assert Lsf().find_submission_command('alice') == [
        'bjobs', '-a', '-u', 'alice', '-o', FIND_FORMAT, '-noheader']
    assert FIND_FORMAT == "jobid job_description delimiter='|'"


def test_lsf_finds_the_job_whose_description_names_the_scripts_stem() -> None:
    listing = sample(LSF_FIXTURES, 'bjobs-description')
    assert Lsf().parse_find_submission(listing, lsf_script(LSF_JOB)) == '764254594'
    # An array's elements are listed under the array's id, with its one description.
    assert Lsf().parse_find_submission(listing, lsf_script(LSF_ARRAY)) == '806290'
    # The whole description must match: not a job whose description only starts with it.
    assert Lsf().parse_find_submission(listing, lsf_script(f'{LSF_JOB}-ol')) is None
    assert Lsf().parse_find_submission(listing, lsf_script(LSF_JOB[:-1])) is None
    # The script's folder does not matter (over SSH it is the remote side's).
    assert Lsf().parse_find_submission(listing, f'/elsewhere/{LSF_JOB}.sh') == '764254594'
    waiting = sample(LSF_FIXTURES, 'bjobs-description-please-wait')
    assert Lsf().parse_find_submission(waiting, lsf_script(LSF_JOB)) == '764254594'


def test_lsf_without_jobs_finds_none_and_a_failing_bjobs_is_an_error() -> None:
    for name in ('bjobs-description-no-job', 'bjobs-no-unfinished'):
        assert Lsf().parse_find_submission(sample(LSF_FIXTURES, name), lsf_script(LSF_JOB)) \
            is None, name
        assert Lsf().parse_find_submission(sample(LSF_FIXTURES, name, 255),
                                           lsf_script(LSF_JOB)) is None, name
    with pytest.raises(StatusCommandError):
        Lsf().parse_find_submission(sample(LSF_FIXTURES, 'bjobs-cannot-connect', 255),
                                    lsf_script(LSF_JOB))
    with pytest.raises(StatusCommandError):
        Lsf().parse_find_submission(CommandResult(['bjobs'], None, '', 'timed out'),
                                    lsf_script(LSF_JOB))
    # Output that is not bjobs' answer is no answer, never "not found".
    with pytest.raises(StatusCommandError, match=re.escape('not ID|DESCRIPTION')):
        Lsf().parse_find_submission(CommandResult(['bjobs'], 0, 'JOBID JOB_DESCRIPTION\n', ''),
                                    lsf_script(LSF_JOB))


def test_a_description_of_the_users_own_is_refused_naming_why() -> None:
    executor = JobExecutor.get_instance('lsf')
    assert isinstance(executor, BatchSchedulerExecutor)
    spec = JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'lsf.Jd': 'mine'}))
    with pytest.raises(InvalidJobException) as raised:
        executor.generate_script(Job(spec))
    message = str(raised.value)
    assert "custom_attributes['lsf.Jd']" in message and 'answer was lost' in message


class LosingTransport(LocalTransport):
    """The local transport whose first ``command`` (``qsub``, ``bsub``) loses its answer: it
    runs (``after``) and its answer is dropped, or it never runs."""

    def __init__(self, after: bool, command: str = 'qsub') -> None:
        super().__init__()
        self.after = after
        self.command = command
        self.lost = 0

    def run(self, argv: Sequence[str], stdin: Optional[str] = None,
            timeout: float = 60.0) -> CommandResult:
        if argv[:1] == [self.command] and not self.lost:
            self.lost += 1
            if self.after:
                super().run(argv, stdin, timeout)
            return CommandResult(list(argv), None, '', 'the connection dropped')
        return super().run(argv, stdin, timeout)


def qsubs_run(backend: Backend) -> List[List[str]]:
    """The qsub calls the double received (calls.log, one JSON argv per line)."""
    assert backend.state is not None
    calls = [json.loads(line) for line in (backend.state / 'calls.log').read_text()
             .splitlines()]
    return [call for call in calls if pathlib.Path(call[0]).name == 'qsub']


@pytest.fixture(params=[('pbspro', 'pbs'), ('torque', 'torque')], ids=['pbs', 'torque'])
def backend(request: pytest.FixtureRequest, tmp_path: pathlib.Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    flavour, name = request.param
    yield from fake_pbs_backend(tmp_path, monkeypatch, flavour, name)


@pytest.mark.parametrize('after', [True, False], ids=['after-qsub', 'before-qsub'])
def test_a_lost_answer_gives_one_job_at_the_double(backend: Backend, after: bool) -> None:
    transport = LosingTransport(after)
    executor = type(backend.executor)(config=backend.executor.batch_config,
                                      transport=transport)
    assert isinstance(executor, BatchSchedulerExecutor) and isinstance(executor, JobExecutor)
    job = Job(JobSpec('/bin/sh', ['-c', 'exit 5']))
    executor.submit(job)
    assert transport.lost == 1
    assert len(qsubs_run(backend)) == 1
    status = final_status(job, 60)
    assert (status.state, status.exit_code) == (JobState.FAILED, 5)


@pytest.fixture
def lsf(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    yield from fake_lsf_backend(tmp_path, monkeypatch)


@pytest.mark.parametrize('after', [True, False], ids=['after-bsub', 'before-bsub'])
def test_a_lost_bsub_answer_gives_one_job_at_the_lsf_double(lsf: Backend, after: bool) -> None:
    transport = LosingTransport(after, 'bsub')
    executor = type(lsf.executor)(config=lsf.executor.batch_config, transport=transport)
    assert isinstance(executor, BatchSchedulerExecutor) and isinstance(executor, JobExecutor)
    job = Job(JobSpec('/bin/sh', ['-c', 'exit 5']))
    executor.submit(job)
    assert transport.lost == 1
    # After: the bsub that lost its answer made the job, and it was found (no second bsub).
    # Before: that bsub never ran, and the job was submitted once, after two looks.
    assert len(lsf.calls('bsub')) == 1
    jobs = sorted(path.stem for path in (lsf.double() / 'jobs').glob('*.json'))
    assert jobs == [job.native_id]
    assert lsf.double_job(jobs[0])['description'] == f'psij-job {job.id}'
    looks = [call for call in lsf.calls('bjobs') if FIND_FORMAT in call]
    assert len(looks) == (1 if after else 2)
    status = final_status(job, 60)
    assert (status.state, status.exit_code) == (JobState.FAILED, 5)
