"""The base class of every batch-scheduler executor, and its configuration."""

import logging
import pathlib
from typing import Any, ClassVar, List, Optional, Union

from psij.batch import markers
from psij.batch.evidence import TrackedJob
from psij.batch.pieces import current_user
from psij.batch.psij_python import PsijPythonMethods, PsijPythonScheduler
from psij.batch.registry import TrackerRegistry, trackers
from psij.batch.scheduler import BatchScheduler, JobScript, StatusCommandError
from psij.batch.script import ScriptInputs
from psij.batch.tracker import SchedulerTracker
from psij.exceptions import InvalidJobException, SubmitException
from psij.job import Job
from psij.job_executor import JobExecutor
from psij.job_executor_config import JobExecutorConfig
from psij.job_state import JobState
from psij.job_status import JobStatus
from psij.transport import LocalTransport, Transport

logger = logging.getLogger('psij.batch')


def _positive(field: str, value: Union[int, float]) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f'BatchSchedulerExecutorConfig.{field} must be a number of seconds '
                         f'greater than 0, not {value!r}')
    return float(value)


class BatchSchedulerExecutorConfig(JobExecutorConfig):
    """Settings of batch-scheduler executors (all times in seconds).

    :param launcher_log_file: accepted for compatibility, not used: a batch job's launcher
        always logs to ``<job id>.launcher.log`` in the work directory, because that log is
        part of the evidence of the job's final state.
    :param work_directory: scripts and markers go to ``<work_directory>/<executor name>``,
        created mode 0700 (``~/.psij/work`` by default). It must be visible from the nodes
        where jobs run (the jobs write their markers there).
    :param queue_polling_interval: the longest wait between two status commands (``squeue``)
        while jobs are tracked.
    :param initial_queue_polling_delay: the first status command after a submission, an
        attach or a cancel comes this soon; the wait then doubles up to
        ``queue_polling_interval``. Once every tracked job is only waiting in the queue, the
        wait is ``queue_polling_interval`` at once.
    :param marker_polling_interval: the longest wait between two looks at the markers (a
        directory listing); it is 0.1 s while markers keep changing and grows once 2 s have
        passed without a change.
    :param outcome_timeout: how long a job that left the queue without an exit-code marker is
        looked up in accounting before it is reported FAILED with an unknown outcome.
    :param command_timeout: a scheduler command that takes longer than this has failed.
    :param keep_files: keep the job script, launcher log and script output of completed jobs
        (removed by default). Exit-code markers are kept (they let another process attach
        later), and so are all files of jobs that did not complete, until ``file_retention``.
    :param file_retention: files in the executor's work directory not modified for this long
        (30 days by default) are removed, about once an hour, by a process that tracks jobs
        there: the exit-code markers of jobs that ended long ago, and what jobs that did not
        complete left. A later attach to such a job relies on the scheduler's accounting.

    Executors of different configs share one status tracker per scheduler; for what they share,
    the smallest value among the tracked jobs' configs applies (`psij.batch.cadence.Pace`).
    """

    def __init__(self, launcher_log_file: Union[str, pathlib.Path, None] = None,
                 work_directory: Union[str, pathlib.Path, None] = None,
                 queue_polling_interval: float = 30.0,
                 initial_queue_polling_delay: float = 1.0,
                 marker_polling_interval: float = 2.0,
                 outcome_timeout: float = 120.0,
                 command_timeout: float = 60.0,
                 keep_files: bool = False,
                 file_retention: float = 30 * 24 * 3600.0) -> None:
        super().__init__(launcher_log_file=launcher_log_file, work_directory=work_directory)
        self.queue_polling_interval = _positive('queue_polling_interval',
                                                queue_polling_interval)
        self.initial_queue_polling_delay = _positive('initial_queue_polling_delay',
                                                     initial_queue_polling_delay)
        self.marker_polling_interval = _positive('marker_polling_interval',
                                                 marker_polling_interval)
        self.outcome_timeout = _positive('outcome_timeout', outcome_timeout)
        self.command_timeout = _positive('command_timeout', command_timeout)
        if not isinstance(keep_files, bool):
            raise ValueError('BatchSchedulerExecutorConfig.keep_files must be True or False, '
                             f'not {keep_files!r}')
        self.keep_files = keep_files
        self.file_retention = _positive('file_retention', file_retention)


class BatchSchedulerExecutor(PsijPythonMethods, JobExecutor):
    """An executor that submits each job as a script to a batch scheduler.

    A subclass sets `scheduler` (a `BatchScheduler`); the executor's `name` is the
    scheduler's. An executor whose scheduler takes settings from the config (Grid Engine's
    parallel environment) overrides `make_scheduler`. Everything else is here. (A subclass
    written for psij-python's batch base sets no scheduler and implements psij-python's
    methods instead: see `psij.batch.psij_python`.) States come
    from the markers the job script leaves in the work directory, from the scheduler's status
    command and, for jobs that left the queue without a marker, from its accounting; see
    `psij.batch.tracker`.
    """

    #: The scheduler jobs go to (class attribute: the scheduler with its default settings;
    #: each executor's own, built by `make_scheduler`, replaces it on the instance).
    scheduler: BatchScheduler
    #: Where the trackers of this executor's jobs live (tests give one of their own).
    tracker_registry: ClassVar[TrackerRegistry] = trackers

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        scheduler = cls.__dict__.get('scheduler')
        if isinstance(scheduler, BatchScheduler) and 'name' not in cls.__dict__:
            cls.name = scheduler.name

    def __init__(self, url: Optional[str] = None,
                 config: Optional[JobExecutorConfig] = None,
                 transport: Optional[Transport] = None) -> None:
        if config is None:
            config = BatchSchedulerExecutorConfig()
        elif not isinstance(config, BatchSchedulerExecutorConfig):
            config = BatchSchedulerExecutorConfig(
                launcher_log_file=config.launcher_log_file,
                work_directory=config.work_directory)
        super().__init__(url=url, config=config)
        self.batch_config: BatchSchedulerExecutorConfig = config
        self.transport: Transport = transport if transport is not None else LocalTransport()
        self.scheduler = self.make_scheduler(config)
        self.directory = config.work_directory / self.name

    def make_scheduler(self, config: BatchSchedulerExecutorConfig) -> BatchScheduler:
        """The scheduler of this executor, with the settings ``config`` holds; the class's
        `scheduler` by default, else (a subclass written for psij-python) its psij-python
        methods adapted."""
        scheduler = getattr(type(self), 'scheduler', None)
        if isinstance(scheduler, BatchScheduler):
            return scheduler
        return PsijPythonScheduler.for_executor(self)

    @property
    def tracker(self) -> Optional[SchedulerTracker]:
        """The tracker watching this executor's jobs, while it has jobs (tests and
        benchmarks read its ``command_counts``)."""
        return self.tracker_registry.tracker(self.scheduler, self.transport)

    # --- submit ----------------------------------------------------------------------------

    def submit(self, job: Job) -> None:
        """Write the job's script and submit it; on return the job is QUEUED and has its
        native id. Raises `InvalidJobException` for a bad specification and
        `SubmitException` if the scheduler refused the job."""
        self._check_job(job)
        try:
            script = self._write_script(job)
            command = self.scheduler.submit_command(script)
            result = self.transport.run(command.argv, stdin=command.stdin,
                                        timeout=self.batch_config.command_timeout)
            native_id = self.scheduler.parse_submit_output(result)
        except BaseException:
            job.executor = None
            raise
        job.native_id = native_id
        self._set_job_status(job, JobStatus(JobState.QUEUED))
        self.tracker_registry.track(self.scheduler, self.transport, TrackedJob(
            job, self, native_id, self.directory,
            files=[pathlib.Path(script.path), script.inputs.launcher_log]))
        logger.debug('submitted job %s as %s %s', job.id, self.name, native_id)

    def script_inputs(self, job: Job) -> ScriptInputs:
        """What the job's script is made from (checks the spec and the launcher)."""
        spec = job.spec
        if spec is None:
            raise InvalidJobException('Job.spec is None; give the job a JobSpec')
        launcher = self._get_launcher(spec.launcher or 'single')
        launcher_log = self._launcher_log(job)
        return ScriptInputs(job=job, marker_directory=self.directory,
                            launch_command=launcher.get_launch_command(job, str(launcher_log)),
                            launcher_log=launcher_log)

    def generate_script(self, job: Job) -> str:
        """The script `submit` would write for ``job`` (checks the job like `submit`)."""
        return self.scheduler.render_script(self.script_inputs(job))

    def _launcher_log(self, job: Job) -> pathlib.Path:
        # Always one log per job, even if the config names a launcher_log_file: the job's
        # exit-code marker quotes launcher failures from this log, and a file shared by jobs
        # would pass one job's launcher failure on to another.
        return self.directory / f'{job.id}{markers.LAUNCHER_LOG}'

    def _write_script(self, job: Job) -> JobScript:
        inputs = self.script_inputs(job)
        text = self.scheduler.render_script(inputs)
        path = self.directory / f'{job.id}{markers.SCRIPT}'
        try:
            self.transport.make_directory(self.directory, 0o700)
            self.transport.write_file(path, text, 0o600)
        except OSError as error:
            raise SubmitException(
                f'cannot write the job script in the work directory {self.directory}: '
                f'{error}') from error
        return JobScript(inputs, path, text)

    # --- cancel ----------------------------------------------------------------------------

    def cancel(self, job: Job) -> None:
        """Ask the scheduler to cancel the job (pending or running); it ends CANCELED unless
        it had already ended. Raises `SubmitException` if the scheduler refused."""
        if not self._should_cancel(job):
            return
        native_id = job.native_id
        if native_id is None:
            raise InvalidJobException(f'job {job.id} has no native id yet')
        result = self.transport.run(self.scheduler.cancel_command(native_id),
                                    timeout=self.batch_config.command_timeout)
        outcome = self.scheduler.parse_cancel_output(result, native_id)
        self.tracker_registry.note_cancel(self.scheduler, self.transport, job, outcome)

    # --- attach ----------------------------------------------------------------------------

    def attach(self, job: Job, native_id: str) -> None:
        """Track the scheduler's job ``native_id``, possibly submitted by another process.

        An exit-code marker in this work directory settles the job at once; otherwise the
        scheduler is asked right away (its answer arrives within about a second, batched
        with other lookups), then accounting if the job already left the queue.
        """
        self._check_attachable(job)
        if not isinstance(native_id, str) or not self.scheduler.is_valid_native_id(native_id):
            raise InvalidJobException(
                f'native_id {native_id!r} is not a {self.name} job id (expected '
                f'{self.scheduler.native_id_pattern.pattern})')
        job.executor = self
        job.native_id = native_id
        self.tracker_registry.track(self.scheduler, self.transport,
                                    TrackedJob(job, self, native_id, self.directory,
                                               attached=True))

    # --- list ------------------------------------------------------------------------------

    def list(self) -> List[str]:
        """The native ids of this user's jobs that the scheduler still shows."""
        result = self.transport.run(self.scheduler.list_command(self.user()),
                                    timeout=self.batch_config.command_timeout)
        try:
            return self.scheduler.parse_list_output(result)
        except StatusCommandError as error:
            raise SubmitException(f'cannot list the jobs: {error}') from error

    def user(self) -> str:
        """The user whose jobs `list` shows (never from the terminal: ``os.getlogin`` fails
        without one)."""
        return current_user()
