"""A Grid Engine submission whose answer was lost, against the REAL Grid Engine of
.ci/lrm/sge-up.sh: found by its script (``qstat -j``'s ``script_file``) and not made twice;
one that never arrived is made once. Also the parser on captured ``qstat -j`` output.

Under CI=true a missing Grid Engine fails these tests (`require_sge`).
"""

import getpass
import pathlib
import re
import subprocess
from typing import Iterator, Optional, Sequence

import pytest
from batch_helpers import final_status
from psij.executors.sge import GridEngine, SgeExecutorConfig, SgeJobExecutor
from real_tools import require_sge

from psij import Job, JobSpec, JobState
from psij.batch import StatusCommandError
from psij.transport import CommandResult, LocalTransport

FIXTURES = pathlib.Path(__file__).resolve().parent / 'fixtures' / 'sge'


def captured(name: str, returncode: int = 0) -> CommandResult:
    stderr = FIXTURES / f'{name}.stderr.txt'
    return CommandResult(['sh'], returncode, (FIXTURES / f'{name}.txt').read_text(),
                         stderr.read_text() if stderr.exists() else '')


class LosingTransport(LocalTransport):
    """The local transport whose first ``qsub`` loses its answer: qsub runs for real and its
    answer is dropped (``after=True``: the job is at Grid Engine), or it never runs."""

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


def jobs_from(script: pathlib.Path) -> int:
    """How many jobs Grid Engine holds whose script is ``script`` (everyone's)."""
    shown = subprocess.run(['qstat', '-j', '*'], capture_output=True, text=True, timeout=60)
    return len(re.findall(rf'^script_file:\s+{re.escape(str(script))}\s*$', shown.stdout,
                          re.MULTILINE))


@pytest.fixture
def config(work_dir: pathlib.Path) -> Iterator[SgeExecutorConfig]:
    require_sge()
    yield SgeExecutorConfig(work_directory=work_dir, queue_polling_interval=2.0)


@pytest.mark.parametrize('after', [True, False], ids=['after-qsub', 'before-qsub'])
def test_a_submission_whose_answer_is_lost_gives_one_job(config: SgeExecutorConfig,
                                                         after: bool) -> None:
    transport = LosingTransport(after)
    executor = SgeJobExecutor(config=config, transport=transport)
    job = Job(JobSpec('/bin/sh', ['-c', 'sleep 12; exit 4']))
    executor.submit(job)
    assert transport.lost == 1
    script = executor.directory / f'{job.id}.sh'
    assert jobs_from(script) == 1
    assert job.native_id is not None and job.native_id.isdigit()
    status = final_status(job, 90)
    assert (status.state, status.exit_code) == (JobState.FAILED, 4)


def test_the_look_finds_the_job_of_the_script_on_the_real_cluster(
        tmp_path: pathlib.Path) -> None:
    require_sge()
    script = tmp_path / 'lost-look.sh'
    script.write_text('#!/bin/bash\n#$ -S /bin/bash\n#$ -o /dev/null -j y\nsleep 20\n')
    other = tmp_path / 'other.sh'
    other.write_text(script.read_text())
    scheduler = GridEngine()
    argv = scheduler.find_submission_command(getpass.getuser())
    submitted = [subprocess.run(['qsub', '-terse', str(path)], capture_output=True,
                                text=True, check=True).stdout.strip() for path in (other, script)]
    try:
        looked = LocalTransport().run(argv, timeout=60)
        assert scheduler.parse_find_submission(looked, str(script)) == submitted[1]
        assert scheduler.parse_find_submission(looked, str(tmp_path / 'x.sh')) is None
    finally:
        subprocess.run(['qdel', *submitted], capture_output=True)


def test_a_user_without_jobs_is_looked_at_without_error() -> None:
    require_sge()
    argv = GridEngine().find_submission_command('nobody')
    looked = LocalTransport().run(argv, timeout=60)
    assert looked.ok and looked.stdout == ''
    assert GridEngine().parse_find_submission(looked, '/x.sh') is None


def test_qstat_j_capture_is_read() -> None:
    result = captured('qstat-j-two')
    assert GridEngine().parse_find_submission(result, '/tmp/sgeprobe/lost.sh') == '11'
    assert GridEngine().parse_find_submission(result, '/tmp/sgeprobe/other.sh') == '10'
    assert GridEngine().parse_find_submission(result, '/tmp/sgeprobe/lost') is None


def test_jobs_that_just_ended_are_not_an_error_but_a_failing_qmaster_is() -> None:
    gone = captured('qstat-j-gone', 1)
    assert GridEngine().parse_find_submission(gone, '/tmp/sgeprobe/lost.sh') is None
    down = CommandResult(['sh'], 1, '', 'error: commlib error: got select error '
                                        '(Connection refused)\n')
    with pytest.raises(StatusCommandError):
        GridEngine().parse_find_submission(down, '/tmp/sgeprobe/lost.sh')
    with pytest.raises(StatusCommandError):
        GridEngine().parse_find_submission(CommandResult(['sh'], None, '', 'timeout'), '/x')
