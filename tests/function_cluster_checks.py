"""The checks of `psij.functions` on a real batch scheduler, shared by
tests/test_functions_slurm.py and tests/test_functions_sge.py: each takes a `FunctionExecutor`
over the real cluster (its jobs named after the test, so the test's teardown can remove them)
and asserts what the caller and the scheduler see. A few jobs each: the clusters are shared
with the rest of the suite."""

import concurrent.futures
import json
import os
import pathlib
import subprocess
import sys
import textwrap
from datetime import timedelta
from typing import Mapping, Sequence

import function_jobs as jobs
import pytest

from psij import JobAttributes, JobSpec, JobState
from psij.functions import FunctionExecutor, NoResultError, RemoteTraceback

#: Seconds a cluster job of these tests may take, queueing included.
WAIT = 120.0


def twenty_futures_summed_in_order(functions: FunctionExecutor) -> None:
    """20 calls of one ``map`` in chunks of 3: ONE array of 7 elements; the results in order
    and their sum."""
    futures = functions.map_futures(jobs.square, range(20), chunksize=3)
    array = futures[0].job.array
    assert array is not None and len(array) == 7 and array.native_id is not None
    assert {id(future.job.array) for future in futures} == {id(array)}
    done, _ = concurrent.futures.wait(futures, timeout=WAIT)
    assert len(done) == 20
    assert [future.result() for future in futures] == [x * x for x in range(20)]
    assert sum(future.result() for future in futures) == 2470


def exception_with_its_traceback(functions: FunctionExecutor) -> None:
    future = functions.submit(jobs.fail_deeply, 'cluster')
    with pytest.raises(ValueError, match='bad value: cluster') as raised:
        future.result(timeout=WAIT)
    assert isinstance(raised.value.__cause__, RemoteTraceback)
    assert 'in _check' in raised.value.__cause__.text
    assert future.job.status.state == JobState.FAILED


def cancel_of_a_held_future(functions: FunctionExecutor, hold: Mapping[str, object]) -> None:
    """A call whose job the scheduler holds is canceled, at the scheduler too."""
    spec = JobSpec(name=functions.spec.name,
                   attributes=JobAttributes(custom_attributes=dict(hold)))
    held = FunctionExecutor(functions.executor, spec=spec)
    future = held.submit(jobs.square, 5)
    assert future.native_id is not None and not future.running()
    assert future.cancel() and future.cancelled()
    status = future.job.wait(timeout=WAIT)
    assert status is not None and status.state == JobState.CANCELED
    done, _ = concurrent.futures.wait([future], timeout=0)
    assert done == {future}


_RECOVER = textwrap.dedent('''
    import json, pathlib, sys
    from psij import JobExecutor
    from psij.batch import BatchSchedulerExecutorConfig
    from psij.functions import FunctionExecutor

    name, work_directory, native_id = sys.argv[1:4]
    config = BatchSchedulerExecutorConfig(work_directory=pathlib.Path(work_directory),
                                          queue_polling_interval=5.0)
    # Both processes read the result: the files stay (by default the first to read removes them).
    functions = FunctionExecutor(name, config=config, keep_files=True)
    [future] = functions.recover(native_id)
    print(json.dumps({'result': future.result(timeout=120), 'state': str(future.job.status.state)}))
''')


def result_recovered_in_another_process(functions: FunctionExecutor) -> None:
    keeping = FunctionExecutor(functions.executor, spec=functions.spec, keep_files=True)
    future = keeping.submit(jobs.slow_identity, 7, 3)
    assert future.native_id is not None
    completed = subprocess.run(
        [sys.executable, '-c', _RECOVER, functions.executor.name,
         str(functions.work_directory), future.native_id],
        capture_output=True, text=True, timeout=WAIT + 30)
    assert completed.returncode == 0, completed.stderr
    seen = json.loads(completed.stdout)
    assert seen['result'] == 7
    assert future.result(timeout=WAIT) == 7


def time_limit_in_the_message(functions: FunctionExecutor, duration: timedelta) -> None:
    """A call that outlives its job's wall time raises `NoResultError` saying so."""
    spec = JobSpec(name=functions.spec.name, attributes=JobAttributes(duration=duration))
    limited = FunctionExecutor(functions.executor, spec=spec)
    future = limited.submit(jobs.slow_identity, 1, 600)
    with pytest.raises(NoResultError, match='time limit') as raised:
        future.result(timeout=duration.total_seconds() + WAIT)
    assert raised.value.status.state == JobState.FAILED


_SUBMIT_HELD_AND_LEAVE = textwrap.dedent('''
    import json, os, pathlib, sys, time
    import function_jobs as jobs
    from psij import JobAttributes, JobExecutor, JobSpec
    from psij.batch import BatchSchedulerExecutorConfig
    from psij.executors.sge import SgeExecutorConfig

    from psij.functions import FunctionExecutor

    name, work, job_name, hold = sys.argv[1:5]
    settings = dict(work_directory=pathlib.Path(work), queue_polling_interval=1.0,
                    initial_queue_polling_delay=0.2, max_in_flight=1)
    config = (SgeExecutorConfig(parallel_environment='smp', **settings) if name == 'sge'
              else BatchSchedulerExecutorConfig(**settings))
    executor = JobExecutor.get_instance(name, config=config)
    first = FunctionExecutor(executor, spec=JobSpec(name=job_name)).submit(jobs.square, 3)
    held_spec = JobSpec(name=job_name,
                        attributes=JobAttributes(custom_attributes=json.loads(hold)))
    held = FunctionExecutor(executor, spec=held_spec).submit(jobs.square, 4)
    assert held.native_id is None, 'psij holds it: max_in_flight is 1'
    assert first.result(timeout=120) == 9
    deadline = time.monotonic() + 60
    while held.native_id is None and time.monotonic() < deadline:
        time.sleep(0.01)
    # Sent by psij once the first ended, it waits in the queue (held there): no status change
    # since. The process ends the moment it sees the native id.
    print(held.native_id, flush=True)
    os._exit(0)
''')


def held_job_recovered_once_sent(functions: FunctionExecutor, hold: Mapping[str, object],
                                 release: Sequence[str]) -> None:
    """A call psij held (``max_in_flight``) and sent later is recoverable by its native id
    from its sending on: its submitter ends before the job changes state again (it waits in
    the queue, held there, until ``release + [native id]`` runs)."""
    tests = str(pathlib.Path(__file__).parent)
    completed = subprocess.run(
        [sys.executable, '-c', _SUBMIT_HELD_AND_LEAVE, functions.executor.name,
         str(functions.work_directory), str(functions.spec.name), json.dumps(dict(hold))],
        capture_output=True, text=True, timeout=WAIT + 30,
        env={**os.environ, 'PYTHONPATH': os.pathsep.join([tests, *sys.path])})
    assert completed.returncode == 0, completed.stderr
    native_id = completed.stdout.strip()
    [future] = functions.recover(native_id)
    assert not future.done()
    subprocess.run([*release, native_id], check=True, capture_output=True, timeout=30)
    assert future.result(timeout=WAIT) == 16
