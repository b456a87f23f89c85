"""File staging in batch job scripts: golden Slurm scripts, and jobs on the REAL Slurm here.

The real tests need the cluster started by .ci/lrm/slurm-up.sh (they fail under CI=true and
skip elsewhere without it); each checks one part of what docs/remote.md#staging-files says.
"""

import os
import pathlib
from typing import Callable, Dict, Iterator

import psij.launchers
import pytest
from batch_backends import real_backend
from batch_helpers import check_golden, final_status, golden_job, wait_until
from psij.executors.slurm import SlurmJobExecutor

from psij import InvalidJobException, Job, JobExecutor, JobSpec, JobState
from psij.batch import BatchSchedulerExecutorConfig
from psij.staging import StageIn, StageOut, StageOutFlags, StagingMode

GOLDEN = pathlib.Path(__file__).parent / 'golden' / 'slurm'
WORK = pathlib.Path('/shared/psij work')
LAUNCHERS = str(pathlib.Path(psij.launchers.__file__).parent)


def _stage_in_modes() -> JobSpec:
    return JobSpec('/bin/true', directory='/scratch/run 1', stage_in={
        StageIn('/home/u/in put.txt', 'in/put.txt'),
        StageIn('file:///home/u/big%20data', 'data', StagingMode.LINK),
        StageIn('/home/u/$once', '/tmp/once', StagingMode.MOVE)})


def _stage_out_and_cleanup() -> JobSpec:
    return JobSpec('/bin/true', directory='/scratch/run', stage_out={
        StageOut('result.txt', '/home/u/results/result.txt', StageOutFlags.ON_SUCCESS),
        StageOut('core', '/home/u/core', StageOutFlags.ON_ERROR | StageOutFlags.IF_PRESENT,
                 StagingMode.MOVE),
        StageOut("it's.log", 'file:///home/u/logs/', StageOutFlags.IF_PRESENT)},
        cleanup={'tmp', 'scratch/it\'s'}, cleanup_flags=StageOutFlags.ON_SUCCESS)


CASES: Dict[str, Callable[[], JobSpec]] = {
    'staging_in': _stage_in_modes, 'staging_out_cleanup': _stage_out_and_cleanup,
}


def _render(spec: JobSpec) -> str:
    executor = SlurmJobExecutor(config=BatchSchedulerExecutorConfig(work_directory=WORK))
    return executor.generate_script(golden_job(spec)).replace(LAUNCHERS, '<LAUNCHERS>')


@pytest.mark.parametrize('case', sorted(CASES))
def test_golden_script(case: str) -> None:
    check_golden(_render(CASES[case]()), GOLDEN / f'{case}.sh', case)


def test_relative_sources_are_taken_from_the_submitters_directory(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    script = _render(JobSpec('/bin/true', stage_in={StageIn('in.txt', 'in.txt')},
                             stage_out={StageOut('out.txt', 'results/out.txt')}))
    assert f"psij_stage copy 0 {tmp_path}/in.txt in.txt" in script
    assert f"{tmp_path}/results/out.txt" in script


def test_script_without_staging_has_no_staging_code() -> None:
    assert 'psij_stage' not in _render(JobSpec('/bin/true', cleanup=set()))


def test_a_remote_uri_is_refused_when_the_script_is_made() -> None:
    with pytest.raises(InvalidJobException, match='stage_in: source.*only local paths'):
        _render(JobSpec('/bin/true', stage_in={StageIn('gsiftp://h/x', 'x')}))


# --- on the real Slurm --------------------------------------------------------------------

@pytest.fixture
def executor(work_dir: pathlib.Path) -> Iterator[JobExecutor]:
    yield real_backend('slurm', work_dir).executor


def _layout(tmp_path: pathlib.Path) -> Dict[str, pathlib.Path]:
    paths = {name: tmp_path / name for name in ('home', 'run', 'back')}
    for path in paths.values():
        path.mkdir()
    return paths


def test_stage_in_modes_and_stage_out_on_success(executor: JobExecutor,
                                                  tmp_path: pathlib.Path) -> None:
    paths = _layout(tmp_path)
    home, run, back = paths['home'], paths['run'], paths['back']
    (home / 'copied file').write_text('copy\n')
    (home / 'linked').write_text('link\n')
    (home / 'moved').write_text('move\n')
    (home / 'tree' / 'sub').mkdir(parents=True)
    (home / 'tree' / 'sub' / 'leaf').write_text('leaf\n')
    (run / 'scratch').mkdir()
    check = ('[ "$(cat "in/copied file")" = copy ] && [ -L linked ] && '
             f'[ "$(readlink linked)" = {home}/linked ] && [ "$(cat moved)" = move ] && '
             '[ "$(cat tree/sub/leaf)" = leaf ] && echo ok > result.txt')
    job = Job(JobSpec('/bin/sh', ['-c', check], directory=run, stage_in={
        StageIn(home / 'copied file', 'in/copied file'),
        StageIn(f'file://{home}/linked', 'linked', StagingMode.LINK),
        StageIn(str(home / 'moved'), 'moved', StagingMode.MOVE),
        StageIn(home / 'tree', 'tree')},
        stage_out={
            StageOut('result.txt', back / 'deep' / 'on success.txt', StageOutFlags.ON_SUCCESS),
            StageOut('result.txt', back / 'on error.txt', StageOutFlags.ON_ERROR),
            StageOut('never made', back / 'absent', StageOutFlags.IF_PRESENT),
            StageOut('tree', back / 'tree', mode=StagingMode.MOVE)},
        cleanup={'scratch', 'in'}))
    executor.submit(job)
    status = final_status(job, 120)
    assert status.state == JobState.COMPLETED, status
    assert (back / 'deep' / 'on success.txt').read_text() == 'ok\n'
    assert not (back / 'on error.txt').exists() and not (back / 'absent').exists()
    assert (back / 'tree' / 'sub' / 'leaf').read_text() == 'leaf\n'
    assert not (run / 'tree').exists() and not (home / 'moved').exists()
    assert not (run / 'scratch').exists() and not (run / 'in').exists()
    assert (home / 'copied file').exists() and (run / 'linked').is_symlink()


def test_failed_job_stages_out_on_error_only(executor: JobExecutor,
                                             tmp_path: pathlib.Path) -> None:
    paths = _layout(tmp_path)
    run, back = paths['run'], paths['back']
    (run / 'keep').mkdir()
    job = Job(JobSpec('/bin/sh', ['-c', 'echo bad > log; exit 3'], directory=run,
                      stage_out={StageOut('log', back / 'error.log', StageOutFlags.ON_ERROR),
                                 StageOut('log', back / 'ok.log', StageOutFlags.ON_SUCCESS)},
                      cleanup={'keep'}, cleanup_flags=StageOutFlags.ON_SUCCESS))
    executor.submit(job)
    status = final_status(job, 120)
    assert (status.state, status.exit_code) == (JobState.FAILED, 3), status
    assert (back / 'error.log').read_text() == 'bad\n'
    assert not (back / 'ok.log').exists() and (run / 'keep').is_dir()


def test_failed_stage_in_fails_the_job_naming_the_file(executor: JobExecutor,
                                                       tmp_path: pathlib.Path) -> None:
    paths = _layout(tmp_path)
    missing = paths['home'] / 'no such input'
    job = Job(JobSpec('/bin/sh', ['-c', 'touch ran'], directory=paths['run'],
                      stage_in={StageIn(missing, 'input')}))
    executor.submit(job)
    status = final_status(job, 120)
    assert status.state == JobState.FAILED, status
    assert str(missing) in (status.message or '') and 'stage_in' in (status.message or '')
    assert not (paths['run'] / 'ran').exists()


def test_failed_stage_out_after_success_fails_the_job(executor: JobExecutor,
                                                      tmp_path: pathlib.Path) -> None:
    paths = _layout(tmp_path)
    back = paths['back']
    job = Job(JobSpec('/bin/sh', ['-c', 'echo 1 > made'], directory=paths['run'], stage_out={
        StageOut('not made', back / 'missing'), StageOut('made', back / 'made')}))
    executor.submit(job)
    status = final_status(job, 120)
    assert status.state == JobState.FAILED, status
    assert "'not made'" in (status.message or '') and 'stage_out' in (status.message or '')
    assert (back / 'made').read_text() == '1\n'


def test_cleanup_outside_the_job_directory_is_refused(executor: JobExecutor,
                                                      tmp_path: pathlib.Path) -> None:
    for path in ('../elsewhere', str(tmp_path), '.'):
        job = Job(JobSpec('/bin/true', directory=tmp_path / 'run', cleanup={path}))
        with pytest.raises(InvalidJobException, match='JobSpec.cleanup.*not inside'):
            executor.submit(job)
        assert job.status.state == JobState.NEW


def test_on_cancel_is_staged_out_and_cleaned_up_by_psij(executor: JobExecutor,
                                                        tmp_path: pathlib.Path) -> None:
    # The scheduler kills the script of a canceled job: psij stages ON_CANCEL after its end.
    paths = _layout(tmp_path)
    run, back = paths['run'], paths['back']
    job = Job(JobSpec('/bin/sh', ['-c', 'echo partial > partial.txt; mkdir tmp; sleep 60'],
                      directory=run, stage_out={
                          StageOut('partial.txt', back / 'copy.txt', StageOutFlags.ON_CANCEL),
                          StageOut('partial.txt', back / 'link.txt', StageOutFlags.ON_CANCEL,
                                   StagingMode.LINK),
                          StageOut('partial.txt', back / 'success.txt', StageOutFlags.ON_SUCCESS),
                          StageOut('absent', back / 'absent', StageOutFlags.ON_CANCEL)},
                      cleanup={'tmp'}, cleanup_flags=StageOutFlags.ON_CANCEL))
    executor.submit(job)
    wait_until(lambda: (run / 'tmp').is_dir(), 'the job started', 120)
    job.cancel()
    status = final_status(job, 120)
    assert status.state == JobState.CANCELED, status
    assert (back / 'copy.txt').read_text() == 'partial\n'
    assert (back / 'link.txt').is_symlink() and \
        os.readlink(back / 'link.txt') == str(run / 'partial.txt')
    assert not (back / 'success.txt').exists() and not (run / 'tmp').exists()
    # A source that is missing (not IF_PRESENT) is named; the job stays CANCELED.
    assert "'absent'" in (status.message or '') and 'ON_CANCEL' in (status.message or '')


def test_a_killed_script_has_its_on_error_outputs_staged_by_psij(
        executor: JobExecutor, tmp_path: pathlib.Path) -> None:
    # The job kills its own process group, script included (as the OOM killer or a failed
    # node would): no exit-code marker, so the script staged nothing, and psij stages the
    # ON_ERROR entries (a checkpoint, say) after the FAILED end.
    paths = _layout(tmp_path)
    run, back = paths['run'], paths['back']
    job = Job(JobSpec('/bin/sh', ['-c', 'echo step-7 > checkpoint; mkdir tmp; kill -KILL 0'],
                      directory=run, stage_out={
                          StageOut('checkpoint', back / 'checkpoint', StageOutFlags.ON_ERROR),
                          StageOut('checkpoint', back / 'success', StageOutFlags.ON_SUCCESS)},
                      cleanup={'tmp'}, cleanup_flags=StageOutFlags.ON_ERROR))
    executor.submit(job)
    status = final_status(job, 120)
    assert status.state == JobState.FAILED, status
    assert (back / 'checkpoint').read_text() == 'step-7\n'
    assert not (back / 'success').exists() and not (run / 'tmp').exists()
