"""Python functions as jobs (`psij.functions`) on the REAL Slurm cluster: the checks of
tests/function_cluster_checks.py. Every job is named ``psij-fn-<random>``, one name per test,
and the teardown runs ``scancel --name`` of it. Under CI=true a missing cluster fails these
tests (`real_tools.require_slurm`).

Times: about 10 s in all, plus the time limit check, marked ``slow``: Slurm's
smallest limit is one minute, and the job ends up to ~30 s after it (72 s here).
"""

import pathlib
import subprocess
import uuid
from datetime import timedelta
from typing import Iterator

import function_cluster_checks as checks
import pytest
from batch_backends import HOLD, real_backend

from psij import JobSpec
from psij.functions import FunctionExecutor


@pytest.fixture
def functions(work_dir: pathlib.Path) -> Iterator[FunctionExecutor]:
    backend = real_backend('slurm', work_dir)
    name = f'psij-fn-{uuid.uuid4().hex[:10]}'
    yield FunctionExecutor(backend.executor, spec=JobSpec(name=name))
    subprocess.run(['scancel', f'--name={name}'], capture_output=True, timeout=30)


def test_twenty_futures_summed_in_order(functions: FunctionExecutor) -> None:
    checks.twenty_futures_summed_in_order(functions)


def test_an_exception_with_its_traceback(functions: FunctionExecutor) -> None:
    checks.exception_with_its_traceback(functions)


def test_cancel_of_a_held_future(functions: FunctionExecutor) -> None:
    checks.cancel_of_a_held_future(functions, HOLD['slurm'])


def test_a_result_recovered_in_another_process(functions: FunctionExecutor) -> None:
    checks.result_recovered_in_another_process(functions)


def test_a_held_job_recovered_once_psij_sent_it(functions: FunctionExecutor) -> None:
    checks.held_job_recovered_once_sent(functions, HOLD['slurm'], ['scontrol', 'release'])


@pytest.mark.slow
def test_a_time_limit_in_the_message(functions: FunctionExecutor) -> None:
    checks.time_limit_in_the_message(functions, timedelta(minutes=1))
