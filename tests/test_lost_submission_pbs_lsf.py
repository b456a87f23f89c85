"""The look for a submission whose answer was lost, on PBS Professional and Torque: the
parsers on sample ``qstat -f`` output (tests/fixtures/pbs, tests/fixtures/torque; their
READMEs say where each sample came from), and the executors against the PBS test double of
tests/doubles/fake_pbs (no PBS server can be installed here), whose qsub loses its answer.

LSF cannot be looked at yet (see docs/executors/lsf.md): its look answers None.
"""

import json
import pathlib
from typing import Iterator, List, Optional, Sequence

import pytest
from batch_backends import Backend, fake_pbs_backend
from batch_helpers import final_status
from psij.executors.lsf import Lsf
from psij.executors.pbs import PbsPro
from psij.executors.torque import Torque

from psij import Job, JobExecutor, JobSpec, JobState
from psij.batch import BatchSchedulerExecutor, StatusCommandError
from psij.transport import CommandResult, LocalTransport

TESTS = pathlib.Path(__file__).resolve().parent
PBS_FIXTURES = TESTS / 'fixtures' / 'pbs'
TORQUE_FIXTURES = TESTS / 'fixtures' / 'torque'


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


def test_lsf_cannot_be_asked_yet() -> None:
    assert Lsf().find_submission_command('alice') is None


class LosingTransport(LocalTransport):
    """The local transport whose first ``qsub`` loses its answer: it runs (``after``) and
    its answer is dropped, or it never runs."""

    def __init__(self, after: bool) -> None:
        super().__init__()
        self.after = after
        self.lost = 0

    def run(self, argv: Sequence[str], stdin: Optional[str] = None,
            timeout: float = 60.0) -> CommandResult:
        if argv[:1] == ['qsub'] and not self.lost:
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
