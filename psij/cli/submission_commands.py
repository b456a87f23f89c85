"""``psij run`` and ``psij submit``."""

import argparse
import copy
import importlib
import signal
import sys
import threading
from types import FrameType
from typing import Any, Dict, List, Optional

from psij import serialize
from psij.cli.executor_setup import check_launcher, open_executor
from psij.cli.exit_status import CliError, ExitStatus, exit_status_of_job
from psij.cli.output import job_record, print_json, print_line, status_text
from psij.cli.output_streaming import prepare_streaming
from psij.cli.parser import executor_name
from psij.cli.spec_input import build_spec
from psij.exceptions import InvalidJobException, SubmitException
from psij.job import Job
from psij.job_executor import JobExecutor
from psij.job_executor_config import JobExecutorConfig
from psij.job_spec import JobSpec
from psij.job_status import JobStatus

#: After an interrupted ``psij run`` canceled its job, how long it waits for the job to end.
CANCEL_WAIT = 30.0


def _submit(executor: JobExecutor, job: Job) -> None:
    try:
        executor.submit(job)
    except InvalidJobException as error:
        raise CliError(ExitStatus.BAD_SPEC, error.message) from error
    except SubmitException as error:
        raise CliError(ExitStatus.BACKEND, f'submission failed: {error.message}') from error


def _record(options: argparse.Namespace, executor: JobExecutor, native_id: str,
            job_id: str, status: JobStatus, spec: JobSpec) -> Dict[str, Any]:
    record = job_record(executor_name(options), native_id, status, job_id=job_id)
    record['spec'] = serialize.spec_to_dict(spec)
    record['work_directory'] = str(executor.config.work_directory)
    return record


def _detached_if_local(executor: JobExecutor) -> JobExecutor:
    """``executor`` itself, or, if it is a local one, the same made detached: the job must be
    owned by a process that outlives this one (``LocalJobExecutorConfig(detached=True)``),
    with the executor's other settings (the profile's ``max_in_flight``...)."""
    # Imported by name: the executors package lives outside psij/ in the source tree.
    local = importlib.import_module('psij.executors.local')
    if not isinstance(executor, local.LocalJobExecutor):
        return executor
    config: JobExecutorConfig = executor.config
    if isinstance(config, local.LocalJobExecutorConfig):
        config = copy.copy(config)
        config.detached = True  # type: ignore[attr-defined]
    else:
        config = local.LocalJobExecutorConfig(work_directory=config.work_directory,
                                              detached=True)
    detached: JobExecutor = type(executor)(url=executor.url, config=config)
    return detached


def submit_command(options: argparse.Namespace, command: List[str]) -> int:
    """``psij submit``: print the native id (``--json``: the whole record)."""
    spec = build_spec(options, command, 'submit')
    executor = _detached_if_local(open_executor(options))
    check_launcher(spec)
    job = Job(spec)
    _submit(executor, job)
    assert job.native_id is not None
    if options.json:
        print_json(_record(options, executor, job.native_id, job.id, job.status, spec))
    else:
        print_line(job.native_id)
    return ExitStatus.OK


#: Signals that, like Ctrl-C, make ``psij run`` cancel its job before it exits: the job
#: should not outlive a ``psij run`` that was told to stop (or lost its terminal).
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class _Stopped(Exception):
    """A signal of `_STOP_SIGNALS` arrived while ``psij run`` waited."""

    def __init__(self, signal_number: int) -> None:
        super().__init__(f'signal {signal_number}')
        self.signal_number = signal_number


class _RunSignals:
    """Ctrl-C and the `_STOP_SIGNALS` during ``psij run``: held while the job is being
    submitted (an exception there could leave a started job behind, neither waited for nor
    canceled), raised once ``psij run`` waits, where they cancel the job."""

    def __init__(self) -> None:
        self.submitting = True
        self.received: Optional[int] = None
        self._previous: Dict[int, Any] = {}

    def __enter__(self) -> '_RunSignals':
        if threading.current_thread() is threading.main_thread():
            self._previous = {number: signal.signal(number, self._handle)
                              for number in (signal.SIGINT, *_STOP_SIGNALS)}
        return self

    def __exit__(self, *exc_info: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def _handle(self, signal_number: int, frame: Optional[FrameType]) -> None:
        if self.submitting:
            if self.received is None:
                self.received = signal_number
            return
        self.raise_for(signal_number)

    @staticmethod
    def raise_for(signal_number: int) -> None:
        if signal_number == signal.SIGINT:
            raise KeyboardInterrupt
        raise _Stopped(signal_number)


def _wait_or_cancel(executor: JobExecutor, job: Job, signals: _RunSignals) -> Optional[int]:
    """Wait until the job ends; on Ctrl-C, SIGTERM or SIGHUP (also one that came while it
    was being submitted), cancel it and return the exit status to use (None if it ended on
    its own)."""
    try:
        signals.submitting = False
        if signals.received is not None:
            signals.raise_for(signals.received)
        while job.wait(timeout=1.0) is None:
            pass
        return None
    except KeyboardInterrupt:
        interrupted = int(ExitStatus.INTERRUPTED)
    except _Stopped as stop:
        interrupted = 128 + stop.signal_number
    print_line(f'psij: interrupted; canceling job {job.native_id}', sys.stderr)
    try:
        executor.cancel(job)
    except (SubmitException, InvalidJobException) as error:
        print_line(f'psij: error: cannot cancel job {job.native_id}: {error}', sys.stderr)
    job.wait(timeout=CANCEL_WAIT)
    return interrupted


def run_command(options: argparse.Namespace, command: List[str]) -> int:
    """``psij run``: submit, show the job's output as it comes (`psij.cli.output_streaming`),
    wait, report the final state, exit with the job's exit code."""
    spec = build_spec(options, command, 'run')
    executor = open_executor(options)
    check_launcher(spec)
    job = Job(spec)
    # --json: stdout is the JSON document, not the job's output.
    output = prepare_streaming(executor, job, quiet=options.quiet or options.json)
    with _RunSignals() as signals:
        try:
            _submit(executor, job)
        except CliError:
            if output is not None:
                output.abandon()
            raise
        assert job.native_id is not None
        if output is not None:
            output.start()
        interrupted = _wait_or_cancel(executor, job, signals)
    if output is not None:
        output.finish(job.status.state)
    status = job.status
    if options.json:
        print_json(_record(options, executor, job.native_id, job.id, status, spec))
    else:
        print_line(f'psij: job {status_text(job.native_id, status)}', sys.stderr)
    if interrupted is not None:
        return interrupted
    return exit_status_of_job(status)
