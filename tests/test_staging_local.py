"""File staging on the local executor, with real processes and real files: each mode and flag,
plain paths and file:// URIs, failures, cleanup, a cancel, relative paths, and ``psij submit``
(docs/executors/local.md#file-staging)."""

import json
import os
import pathlib
import threading
from typing import Dict, Iterator, List, Tuple

import pytest
from psij.executors.local import LocalJobExecutorConfig
from test_cli_support import psij

from psij import (
    InvalidJobException,
    Job,
    JobExecutor,
    JobExecutorConfig,
    JobSpec,
    JobState,
    JobStatus,
)
from psij.staging import StageIn, StageOut, StageOutFlags, StagingMode

S, E, C = StageOutFlags.ON_SUCCESS, StageOutFlags.ON_ERROR, StageOutFlags.ON_CANCEL


@pytest.fixture
def executor(work_dir: pathlib.Path) -> JobExecutor:
    return JobExecutor.get_instance('local', config=JobExecutorConfig(work_directory=work_dir))


@pytest.fixture
def paths(tmp_path: pathlib.Path) -> Dict[str, pathlib.Path]:
    """``home`` (the submitting side), ``run`` (the job's directory), ``back`` (outputs)."""
    made = {name: tmp_path / name for name in ('home', 'run', 'back')}
    for path in made.values():
        path.mkdir()
    return made


def _run(executor: JobExecutor, spec: JobSpec, timeout: float = 30) -> JobStatus:
    job = Job(spec)
    executor.submit(job)
    status = job.wait(timeout=timeout)
    assert status is not None, 'the job did not end in time'
    return status


def _sh(script: str, run: pathlib.Path, **fields: object) -> JobSpec:
    return JobSpec('/bin/sh', ['-c', script], directory=run, **fields)  # type: ignore[arg-type]


# --- stage in ----------------------------------------------------------------------------------


def test_stage_in_each_mode_with_paths_and_file_uris(executor: JobExecutor,
                                                     paths: Dict[str, pathlib.Path]) -> None:
    home, run = paths['home'], paths['run']
    (home / 'copied file').write_text('copy\n')
    (home / 'linked').write_text('link\n')
    (home / 'moved').write_text('move\n')
    (home / 'tree' / 'sub').mkdir(parents=True)
    (home / 'tree' / 'sub' / 'leaf').write_text('leaf\n')
    (home / 'tree' / 'to-leaf').symlink_to('sub/leaf')
    check = ('[ "$(cat "in/copied file")" = copy ] && [ -L linked ] && '
             f'[ "$(readlink linked)" = "{home}/linked" ] && [ "$(cat moved)" = move ] && '
             '[ "$(cat tree/sub/leaf)" = leaf ] && [ "$(readlink tree/to-leaf)" = sub/leaf ]')
    status = _run(executor, _sh(check, run, stage_in={
        StageIn(home / 'copied file', 'in/copied file'),
        StageIn(f'file://{home}/linked', 'linked', StagingMode.LINK),
        StageIn('file://localhost' + str(home / 'moved'), 'moved', StagingMode.MOVE),
        StageIn(f'file://{home}/tr%65e', run / 'tree')}))
    assert status.state == JobState.COMPLETED, status
    assert not (home / 'moved').exists() and (home / 'copied file').exists()
    assert (home / 'tree' / 'sub' / 'leaf').exists()  # copied, not moved


def test_stage_in_replaces_a_link_and_merges_a_copied_directory(
        executor: JobExecutor, paths: Dict[str, pathlib.Path]) -> None:
    home, run = paths['home'], paths['run']
    (home / 'new').write_text('new\n')
    (run / 'link').symlink_to('/nonexistent')
    (home / 'tree').mkdir()
    (home / 'tree' / 'a').write_text('a\n')
    (run / 'tree').mkdir()
    (run / 'tree' / 'kept').write_text('kept\n')
    status = _run(executor, _sh('cat link tree/a tree/kept > seen', run, stage_in={
        StageIn(home / 'new', 'link', StagingMode.LINK), StageIn(home / 'tree', 'tree')}))
    assert status.state == JobState.COMPLETED, status
    assert (run / 'seen').read_text() == 'new\na\nkept\n'


@pytest.mark.parametrize('mode', list(StagingMode))
def test_a_failed_stage_in_fails_the_job_naming_the_file_and_it_never_runs(
        executor: JobExecutor, paths: Dict[str, pathlib.Path], mode: StagingMode) -> None:
    home, run = paths['home'], paths['run']
    (home / 'present').write_text('x\n')
    missing = home / 'no such input'
    job = Job(_sh('touch ran', run, stage_in={StageIn(home / 'present', 'a'),
                                              StageIn(missing, 'input', mode)},
                  stage_out={StageOut('a', paths['back'] / 'a')}))
    executor.submit(job)
    status = job.wait(timeout=30)
    assert status is not None and status.state == JobState.FAILED, status
    assert f'JobSpec.stage_in: cannot {mode.name.lower()} {str(missing)!r}' in \
        (status.message or '')
    assert 'no such file or directory' in (status.message or '')
    assert job.native_id is None and not (run / 'ran').exists()
    assert not (paths['back'] / 'a').exists()  # no stage-out for a job that never ran


def test_a_directory_in_the_way_of_a_link_fails_the_stage_in(
        executor: JobExecutor, paths: Dict[str, pathlib.Path]) -> None:
    (paths['home'] / 'file').write_text('x\n')
    (paths['run'] / 'dir').mkdir()
    status = _run(executor, _sh('touch ran', paths['run'], stage_in={
        StageIn(paths['home'] / 'file', 'dir', StagingMode.LINK)}))
    assert status.state == JobState.FAILED, status
    assert "cannot link" in (status.message or '') and "'dir'" in (status.message or '')
    assert not (paths['run'] / 'ran').exists() and (paths['run'] / 'dir').is_dir()


# --- stage out ---------------------------------------------------------------------------------

FLAGS: Dict[str, StageOutFlags] = {
    'on_success': S, 'on_error': E, 'on_cancel': C, 'always': StageOutFlags.ALWAYS,
    'success_or_error': S | E, 'if_present_absent': StageOutFlags.IF_PRESENT,
}


def _stage_out_by_flag(back: pathlib.Path) -> Tuple[List[StageOut], StageOut]:
    outs = [StageOut('out', back / name, flags) for name, flags in FLAGS.items()
            if name != 'if_present_absent']
    return outs, StageOut('never made', back / 'if_present_absent', FLAGS['if_present_absent'])


@pytest.mark.parametrize('ending, staged', [
    ('exit 0', {'on_success', 'always', 'success_or_error'}),
    ('exit 3', {'on_error', 'always', 'success_or_error'}),
])
def test_stage_out_follows_the_flags(executor: JobExecutor, paths: Dict[str, pathlib.Path],
                                     ending: str, staged: set) -> None:  # type: ignore[type-arg]
    back = paths['back']
    outs, optional = _stage_out_by_flag(back)
    status = _run(executor, _sh(f'echo out > out; {ending}', paths['run'],
                                stage_out={*outs, optional}))
    assert status.state == (JobState.COMPLETED if ending == 'exit 0' else JobState.FAILED)
    assert status.message in (None, 'exit code 3'), status  # IF_PRESENT: no error
    assert {path.name for path in back.iterdir()} == staged
    for name in staged:
        assert (back / name).read_text() == 'out\n'


def test_a_canceled_job_stages_out_on_cancel_before_it_is_final(
        executor: JobExecutor, paths: Dict[str, pathlib.Path]) -> None:
    run, back = paths['run'], paths['back']
    outs, optional = _stage_out_by_flag(back)
    job = Job(_sh('echo out > out; touch ready; exec sleep 60', run,
                  stage_out={*outs, optional}, cleanup={'out'}, cleanup_flags=C))
    # What the callback of the final status sees (wait() may return before it runs).
    seen: List[Tuple[JobState, bool]] = []
    final = threading.Event()

    def callback(_: Job, status: JobStatus) -> None:
        if status.final:
            seen.append((status.state, (back / 'on_cancel').exists()))
            final.set()

    job.set_job_status_callback(callback)
    executor.submit(job)
    for _ in range(300):
        if (run / 'ready').exists():
            break
        threading.Event().wait(0.05)
    job.cancel()
    status = job.wait(timeout=30)
    assert status is not None and status.state == JobState.CANCELED, status
    assert {path.name for path in back.iterdir()} == {'on_cancel', 'always'}
    assert final.wait(timeout=30)
    assert seen == [(JobState.CANCELED, True)], 'reported final before its stage-out'
    assert not (run / 'out').exists()  # cleanup_flags=ON_CANCEL


def test_stage_out_each_mode(executor: JobExecutor, paths: Dict[str, pathlib.Path],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    run, back = paths['run'], paths['back']
    monkeypatch.chdir(back)
    status = _run(executor, _sh('mkdir -p d/e; echo 1 > c; echo 2 > l; echo 3 > d/e/m', run,
                                stage_out={StageOut('c', 'copies/c'),
                                           StageOut('l', f'file://{back}/l', mode=StagingMode.LINK),
                                           StageOut('d', back / 'moved', mode=StagingMode.MOVE)}))
    assert status.state == JobState.COMPLETED, status
    assert (back / 'copies' / 'c').read_text() == '1\n' and (run / 'c').exists()
    assert os.readlink(back / 'l') == str(run / 'l')
    assert (back / 'moved' / 'e' / 'm').read_text() == '3\n' and not (run / 'd').exists()


def test_a_failed_stage_out_after_success_fails_the_job_and_the_others_arrive(
        executor: JobExecutor, paths: Dict[str, pathlib.Path]) -> None:
    back = paths['back']
    (back / 'a directory').mkdir()
    status = _run(executor, _sh('echo 1 > made; echo 2 > other', paths['run'], stage_out={
        StageOut('not made', back / 'missing'), StageOut('made', back / 'made'),
        StageOut('other', back / 'a directory'), StageOut('other', back / 'other')}))
    assert (status.state, status.exit_code) == (JobState.FAILED, 0), status
    message = status.message or ''
    assert f"JobSpec.stage_out: cannot copy 'not made' to {str(back / 'missing')!r}" in message
    assert f"cannot copy 'other' to {str(back / 'a directory')!r}" in message
    assert (back / 'made').read_text() == '1\n' and (back / 'other').read_text() == '2\n'


def test_a_failed_stage_out_of_a_failed_job_keeps_its_exit_code_and_adds_the_file(
        executor: JobExecutor, paths: Dict[str, pathlib.Path]) -> None:
    status = _run(executor, _sh('exit 4', paths['run'], stage_out={
        StageOut('core', paths['back'] / 'core', E)}))
    assert (status.state, status.exit_code) == (JobState.FAILED, 4), status
    assert (status.message or '').startswith("exit code 4; JobSpec.stage_out: cannot copy 'core'")


# --- cleanup -----------------------------------------------------------------------------------


@pytest.mark.parametrize('ending, removed', [('exit 0', True), ('exit 1', False)])
def test_cleanup_follows_its_flags(executor: JobExecutor, paths: Dict[str, pathlib.Path],
                                   ending: str, removed: bool) -> None:
    run = paths['run']
    _run(executor, _sh(f'mkdir -p scratch/deep; touch scratch/deep/x tmp keep; {ending}', run,
                       cleanup={'scratch', run / 'tmp'}, cleanup_flags=S))
    assert (run / 'scratch').exists() != removed and (run / 'tmp').exists() != removed
    assert (run / 'keep').exists()


def test_cleanup_never_leaves_the_job_directory(executor: JobExecutor,
                                                paths: Dict[str, pathlib.Path]) -> None:
    run, home = paths['run'], paths['home']
    (home / 'precious').write_text('keep\n')
    (run / 'escape').symlink_to(home)
    (run / 'own link').symlink_to(home / 'precious')
    status = _run(executor, _sh('true', run, cleanup={'escape/precious', 'own link'}))
    assert status.state == JobState.COMPLETED, status
    assert "JobSpec.cleanup: 'escape/precious' is outside the job's directory; left alone" \
        in (status.message or '')
    assert (home / 'precious').read_text() == 'keep\n'
    assert not os.path.lexists(run / 'own link')  # the link itself, not what it names
    for outside in ('../elsewhere', str(home / 'precious'), '.'):
        job = Job(JobSpec('/bin/true', directory=run, cleanup={outside}))
        with pytest.raises(InvalidJobException, match='JobSpec.cleanup.*not inside'):
            executor.submit(job)
        assert job.status.state == JobState.NEW


# --- relative paths ----------------------------------------------------------------------------


def test_relative_paths_are_taken_at_submit(work_dir: pathlib.Path,
                                            paths: Dict[str, pathlib.Path],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Submitting-side paths from the submitter's directory at submit(), also for a job psij
    holds and starts later (from elsewhere); job-side paths from the job's directory (a
    relative ``directory`` is taken when the job starts, as for every local job)."""
    executor = JobExecutor.get_instance('local', config=LocalJobExecutorConfig(
        work_directory=work_dir, max_in_flight=1))
    tmp = paths['home'].parent
    (paths['home'] / 'in.txt').write_text('in\n')
    monkeypatch.chdir(tmp)
    first = Job(JobSpec('/bin/sh', ['-c', 'while [ ! -e go ]; do sleep 0.05; done'],
                        directory='run'))
    second = Job(_sh('cat in/in.txt > out.txt', paths['run'],
                     stage_in={StageIn('home/in.txt', 'in/in.txt')},
                     stage_out={StageOut('out.txt', 'back/out.txt')}))
    executor.submit(first)
    executor.submit(second)
    assert second.status.state == JobState.QUEUED  # held behind the first
    monkeypatch.chdir(paths['back'])
    (paths['run'] / 'go').touch()
    status = second.wait(timeout=30)
    assert status is not None and status.state == JobState.COMPLETED, status
    assert (paths['back'] / 'out.txt').read_text() == 'in\n'


# --- psij submit: the detached watcher ---------------------------------------------------------


@pytest.fixture
def spec_file(paths: Dict[str, pathlib.Path]) -> Iterator[pathlib.Path]:
    (paths['home'] / 'in.txt').write_text('from home\n')
    path = paths['home'] / 'spec.json'
    path.write_text(json.dumps({
        'version': 1, 'executable': '/bin/sh', 'arguments': ['-c', 'cat in.txt > out.txt'],
        'directory': '../run',
        'stage_in': [{'source': 'in.txt', 'target': 'in.txt', 'mode': 'COPY'}],
        'stage_out': [{'source': 'out.txt', 'target': '../back/out.txt',
                       'flags': ['ON_SUCCESS'], 'mode': 'MOVE'}]}))
    yield path


def test_psij_submit_stages_from_the_submitters_directory(
        work_dir: pathlib.Path, paths: Dict[str, pathlib.Path], spec_file: pathlib.Path) -> None:
    submitted = psij(work_dir, 'submit', str(spec_file.name), cwd=paths['home'])
    assert submitted.returncode == 0, str(submitted)
    native_id = submitted.stdout.strip()
    waited = psij(work_dir, 'wait', native_id)
    assert waited.returncode == 0, str(waited)
    assert (paths['back'] / 'out.txt').read_text() == 'from home\n'
    assert not (paths['run'] / 'out.txt').exists()
