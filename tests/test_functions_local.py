"""Python functions as jobs (`psij.functions`) on the local executor: real processes running
the real runner, each test with its own work directory."""

import concurrent.futures
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta
from typing import Iterator

import function_jobs as jobs
import pytest
from psij.executors.local import LocalJobExecutorConfig

from psij import JobExecutorConfig, JobSpec, JobState
from psij.configuration import ConfigFile, load
from psij.functions import (
    CallNotPicklable,
    FunctionExecutor,
    NoResultError,
    RemoteTraceback,
    RunnerError,
)

WAIT = 60.0


@pytest.fixture
def functions(work_dir: pathlib.Path) -> Iterator[FunctionExecutor]:
    with FunctionExecutor('local', config=JobExecutorConfig(work_directory=work_dir)) as fx:
        yield fx


def test_twenty_futures_summed(functions: FunctionExecutor) -> None:
    futures = [functions.submit(jobs.square, x) for x in range(20)]
    done = list(concurrent.futures.as_completed(futures, timeout=WAIT))
    assert len(done) == 20
    assert sum(future.result() for future in futures) == sum(x * x for x in range(20))
    assert len({future.native_id for future in futures}) == 20
    assert all(future.job.status.state == JobState.COMPLETED for future in futures)


def test_an_exception_is_raised_with_its_remote_traceback(functions: FunctionExecutor) -> None:
    future = functions.submit(jobs.fail_deeply, 'x')
    with pytest.raises(ValueError, match='bad value: x') as raised:
        future.result(timeout=WAIT)
    cause = raised.value.__cause__
    assert isinstance(cause, RemoteTraceback)
    assert 'in fail_deeply' in cause.text and 'in _check' in cause.text
    assert "raise ValueError(f'bad value: {text}')" in cause.text
    assert future.job.status.state == JobState.FAILED


def test_output_goes_to_the_files_the_future_names(functions: FunctionExecutor) -> None:
    future = functions.submit(jobs.talk, 'hello')
    [pid] = future.result(timeout=WAIT)
    assert str(pid) == future.native_id
    assert 'to stdout: hello' in future.stdout_path.read_text()
    assert 'to stderr: hello' in future.stderr_path.read_text()
    assert future.stdout_path.parent.stat().st_mode & 0o777 == 0o700
    # The result is delivered: its call and result files go (just after), the output stays.
    _wait_until_gone(future.stdout_path.parent / f'{future.call_id}.call', future.result_path)
    assert future.stdout_path.exists() and future.stderr_path.exists()
    kept = FunctionExecutor(functions.executor, keep_files=True).submit(jobs.talk, 'kept')
    kept.result(timeout=WAIT)
    for path in (kept.stdout_path.parent / f'{kept.call_id}.call', kept.result_path):
        assert path.stat().st_mode & 0o777 == 0o600


def _wait_until_gone(*paths: pathlib.Path) -> None:
    deadline = time.monotonic() + 5
    while any(path.exists() for path in paths) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [path for path in paths if path.exists()]


def test_map_gives_results_in_order_with_chunks_of_one_array(
        functions: FunctionExecutor) -> None:
    # The first items sleep longest: they end last, and still come first.
    items = list(range(10))
    futures = functions.map_futures(jobs.slow_identity, items, [0.1 * (9 - x) for x in items],
                                    chunksize=3)
    arrays = {id(future.job.array) for future in futures}
    assert len(arrays) == 1 and len(futures[0].job.array or []) == 4
    assert [future.position for future in futures[:4]] == [0, 1, 2, 0]
    assert [future.result(timeout=WAIT) for future in futures] == items
    assert list(functions.map(jobs.add, range(7), range(0, 70, 10), chunksize=2)) == [
        x + 10 * x for x in range(7)]
    assert list(functions.map(jobs.square, [])) == []


def test_a_killed_job_raises_with_its_final_status(functions: FunctionExecutor,
                                                   tmp_path: pathlib.Path) -> None:
    started = tmp_path / 'started'
    future = functions.submit(jobs.touch_and_sleep, str(started), 300)
    deadline = time.monotonic() + WAIT
    while not started.exists():
        assert time.monotonic() < deadline, 'the job never started'
        time.sleep(0.05)
    assert future.running() and not future.cancel()  # a started call is not canceled so
    os.kill(int(future.native_id or 0), signal.SIGKILL)
    with pytest.raises(NoResultError) as raised:
        future.result(timeout=WAIT)
    assert raised.value.status.state == JobState.FAILED
    assert 'without a result' in str(raised.value)
    assert str(raised.value.status.message) in str(raised.value)


def test_a_canceled_running_job_raises_canceled(functions: FunctionExecutor,
                                                tmp_path: pathlib.Path) -> None:
    started = tmp_path / 'started'
    future = functions.submit(jobs.touch_and_sleep, str(started), 300)
    deadline = time.monotonic() + WAIT
    while not started.exists():
        assert time.monotonic() < deadline, 'the job never started'
        time.sleep(0.05)
    future.job.cancel()
    with pytest.raises(NoResultError, match='ended CANCELED') as raised:
        future.result(timeout=WAIT)
    assert raised.value.status.state == JobState.CANCELED


def test_cancel_of_a_pending_future(work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    release = tmp_path / 'release'
    config = LocalJobExecutorConfig(work_directory=work_dir, max_in_flight=1)
    with FunctionExecutor('local', config=config) as functions:
        first = functions.submit(jobs.wait_for, str(release), 1)
        pending = functions.submit(jobs.square, 3)
        assert pending.job.status.state == JobState.QUEUED
        assert pending.cancel() and pending.cancelled()
        done, not_done = concurrent.futures.wait([first, pending], timeout=0)
        assert done == {pending} and not_done == {first}
        status = pending.job.wait(timeout=WAIT)
        assert status is not None and status.state == JobState.CANCELED
        assert pending.native_id is None  # it never reached the backend
        release.touch()
        assert first.result(timeout=WAIT) == 1
        with pytest.raises(concurrent.futures.CancelledError):
            pending.result()


def test_map_honours_the_cap_on_jobs_in_flight(work_dir: pathlib.Path,
                                               tmp_path: pathlib.Path) -> None:
    config = LocalJobExecutorConfig(work_directory=work_dir, max_in_flight=2)
    with FunctionExecutor('local', config=config) as functions:
        futures = functions.map_futures(jobs.running_together, [str(tmp_path)] * 6, range(6))
        assert len({id(future.job.array) for future in futures}) == 1
        together = [future.result(timeout=WAIT) for future in futures]
    assert max(together) <= 2, together
    assert max(together) == 2, f'never two at once: {together}'


def test_shutdown_cancels_the_calls_not_started(work_dir: pathlib.Path,
                                                tmp_path: pathlib.Path) -> None:
    release = tmp_path / 'release'
    config = LocalJobExecutorConfig(work_directory=work_dir, max_in_flight=1)
    functions = FunctionExecutor('local', config=config)
    first = functions.submit(jobs.wait_for, str(release), 5)
    held = [functions.submit(jobs.square, x) for x in range(3)]
    threading.Timer(1.0, release.touch).start()
    functions.shutdown(wait=True, cancel_futures=True)
    assert first.result(timeout=0) == 5
    assert all(future.cancelled() for future in held)
    with pytest.raises(RuntimeError, match='after shutdown'):
        functions.submit(jobs.square, 1)


_SUBMIT_AND_LEAVE = textwrap.dedent('''
    import sys, time
    from psij import JobExecutorConfig
    from psij.functions import FunctionExecutor

    def late_answer(base):
        time.sleep(2)
        return base + 2

    functions = FunctionExecutor('local', config=JobExecutorConfig(work_directory=sys.argv[1]))
    future = functions.submit(late_answer, 40)
    print(future.native_id, flush=True)
''')


def test_a_result_is_recovered_in_another_process(work_dir: pathlib.Path,
                                                  tmp_path: pathlib.Path) -> None:
    # The submitting process ends before its job does (a notebook that restarted).
    script = tmp_path / 'submit.py'
    script.write_text(_SUBMIT_AND_LEAVE)
    completed = subprocess.run([sys.executable, str(script), str(work_dir)],
                               capture_output=True, text=True, timeout=WAIT)
    assert completed.returncode == 0, completed.stderr
    native_id = completed.stdout.strip()
    functions = FunctionExecutor('local', config=JobExecutorConfig(work_directory=work_dir))
    [future] = functions.recover(native_id)
    assert future.result(timeout=WAIT) == 42
    assert future.native_id == native_id
    # Delivered: its files go (just after the futures are settled), and a second recovery
    # says so.
    _wait_until_gone(future.result_path)
    with pytest.raises(LookupError, match='result was delivered and its files removed'):
        functions.recover(native_id)
    with pytest.raises(LookupError, match='no function job'):
        functions.recover('999999999')


_MAIN_SCRIPT = textwrap.dedent('''
    import sys
    from psij import JobExecutorConfig
    from psij.functions import FunctionExecutor

    def make_scaler(factor):
        def scale(x):
            return factor * x
        return scale

    offset = 100
    with FunctionExecutor('local', config=JobExecutorConfig(work_directory=sys.argv[1])) as fx:
        lambda_future = fx.submit(lambda x: x + offset, 1)
        closure_results = list(fx.map(make_scaler(3), [1, 2, 3]))
        print(lambda_future.result(timeout=60), closure_results)
''')


def test_a_lambda_and_a_closure_of_main(work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    script = tmp_path / 'script.py'
    script.write_text(_MAIN_SCRIPT)
    completed = subprocess.run([sys.executable, str(script), str(work_dir)],
                               capture_output=True, text=True, timeout=WAIT)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == '101 [3, 6, 9]'


def test_an_unpicklable_argument_is_named_before_submission(
        functions: FunctionExecutor) -> None:
    lock = threading.Lock()
    with pytest.raises(CallNotPicklable, match=r'argument 1 \(a _thread.lock\)') as raised:
        functions.submit(jobs.add, 1, lock)
    assert raised.value.argument == 1
    with pytest.raises(CallNotPicklable, match="keyword argument 'b'") as raised:
        functions.submit(jobs.add, 1, b=lock)
    assert raised.value.argument == 'b'
    with pytest.raises(CallNotPicklable, match=r'map item 2: argument 0') as raised:
        functions.map_futures(jobs.square, [1, 2, lock])
    assert (raised.value.item, raised.value.argument) == (2, 0)
    with pytest.raises(CallNotPicklable, match='the function'):
        functions.submit(lock.acquire)
    assert not list(functions.directory.glob('*.call')), 'something was submitted'


@pytest.mark.parametrize('kind, says', [
    ('version', r'Python 3\.7\.1 here .* submitted from Python '
                + r'\.'.join(str(part) for part in sys.version_info[:2])),
    ('no-cloudpickle', "cloudpickle cannot be imported by .*No module named 'cloudpickle'"),
])
def test_a_mismatched_python_fails_the_job_saying_what_differs(
        work_dir: pathlib.Path, tmp_path: pathlib.Path, kind: str, says: str) -> None:
    python = jobs.fake_python(tmp_path, kind)
    with FunctionExecutor('local', config=JobExecutorConfig(work_directory=work_dir),
                          python=str(python)) as functions:
        future = functions.submit(jobs.square, 2)
        with pytest.raises(RunnerError, match=says) as raised:
            future.result(timeout=WAIT)
    assert raised.value.status is not None and raised.value.status.state == JobState.FAILED
    assert raised.value.status.exit_code == 3
    assert 'does not match' in future.stderr_path.read_text()


def test_the_base_spec_and_settings_are_checked(work_dir: pathlib.Path) -> None:
    config = JobExecutorConfig(work_directory=work_dir)
    with pytest.raises(ValueError, match='JobSpec.executable must be None'):
        FunctionExecutor('local', config=config, spec=JobSpec('/bin/true'))
    with pytest.raises(ValueError, match='throttle is 0; allowed'):
        FunctionExecutor('local', config=config, throttle=0)
    with pytest.raises(ValueError, match='chunksize is 0; allowed'):
        FunctionExecutor('local', config=config).map_futures(jobs.square, [1], chunksize=0)
    with pytest.raises(ValueError, match="executor 'local' does not reach url 'ssh://x'"):
        FunctionExecutor('local', url='ssh://x', config=config)
    with pytest.raises(ValueError, match='keep_files must be True or False'):
        FunctionExecutor('local', config=config, keep_files=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match='file_retention is -1; allowed'):
        FunctionExecutor('local', config=config, file_retention=-1)


def test_the_base_spec_reaches_the_job(work_dir: pathlib.Path) -> None:
    spec = JobSpec(environment={'PSIJ_TEST_GREETING': 'hi'}, directory=work_dir.parent)
    with FunctionExecutor('local', config=JobExecutorConfig(work_directory=work_dir),
                          spec=spec) as functions:
        future = functions.submit(jobs.variable, 'PSIJ_TEST_GREETING')
        cwd = functions.submit(os.getcwd)
        assert future.result(timeout=WAIT) == 'hi'
        assert cwd.result(timeout=WAIT) == str(work_dir.parent)


def _age(path: pathlib.Path, seconds: float) -> pathlib.Path:
    if not path.exists():
        path.write_text('x')
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_old_files_are_pruned_after_the_retention(work_dir: pathlib.Path,
                                                  tmp_path: pathlib.Path) -> None:
    config = JobExecutorConfig(work_directory=work_dir)
    functions = FunctionExecutor('local', config=config)
    directory, day = functions.directory, 24 * 3600.0
    old = [_age(directory / f'{"a" * 32}{suffix}', 31 * day)
           for suffix in ('.call', '.result', '.out', '.err')]
    old.append(_age(directory / 'native' / 'local-1', 31 * day))
    fresh = _age(directory / f'{"b" * 32}.call', 29 * day)
    _age(directory / 'runner.py', 31 * day)
    FunctionExecutor('local', config=config)  # 30 days by default, at once
    assert not any(path.exists() for path in old)
    assert fresh.exists() and (directory / 'runner.py').exists()
    FunctionExecutor('local', config=config, file_retention=28 * day)
    assert not fresh.exists()
    # The files of calls in flight stay, however old.
    release = tmp_path / 'release'
    future = functions.submit(jobs.wait_for, str(release), 1)
    call = _age(directory / f'{future.call_id}.call', 31 * day)
    assert functions.prune() == 0 and call.exists()
    release.touch()
    assert future.result(timeout=WAIT) == 1


def test_a_profile_makes_the_executor_and_fills_the_base_spec(
        work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    config_file = tmp_path / 'config.toml'
    config_file.write_text(textwrap.dedent(f'''
        [profile.sweep]
        executor = "local"
        work_directory = "{work_dir}"
        max_in_flight = 2

        [profile.sweep.attributes]
        duration = "00:05:00"
    '''))
    profile = load([ConfigFile('extra', config_file, required=True)]).profile('sweep')
    with FunctionExecutor(profile, spec=JobSpec(environment={'PSIJ_TEST_GREETING': 'hi'})) as fx:
        assert fx.directory == work_dir / 'functions'
        assert isinstance(fx.executor.config, LocalJobExecutorConfig)
        assert fx.executor.config.max_in_flight == 2
        future = fx.submit(jobs.variable, 'PSIJ_TEST_GREETING')
        assert future.result(timeout=WAIT) == 'hi'
        assert future.job.spec is not None
        assert future.job.spec.attributes.duration == timedelta(minutes=5)
    with pytest.raises(ValueError, match="a profile \\('sweep'\\) makes its own"):
        FunctionExecutor(profile, config=JobExecutorConfig(work_directory=work_dir))
