"""The base class of every batch-scheduler executor, and its configuration."""

import contextlib
import logging
import os
import pathlib
from typing import Any, ClassVar, Dict, List, Mapping, Optional, Sequence, Union

from psij.batch import markers
from psij.batch.evidence import TrackedJob
from psij.batch.lost_submission import submit_once
from psij.batch.pieces import current_user
from psij.batch.psij_python import PsijPythonMethods, PsijPythonScheduler
from psij.batch.registry import TrackerRegistry, trackers
from psij.batch.remote_paths import PathLike, RemotePaths
from psij.batch.remote_side import placed_launch_command, remote_path, remote_user
from psij.batch.scheduler import BatchScheduler, JobScript, StatusCommandError
from psij.batch.script import ArraySlice, ScriptInputs
from psij.batch.staging_plan import StagingPlan, make_plan
from psij.batch.submission import native_dependencies
from psij.batch.tracker import SchedulerTracker
from psij.batch.user_templates import UserTemplates
from psij.dependencies import check_submittable
from psij.exceptions import InvalidJobException, SubmitException
from psij.job import Job
from psij.job_array import INDEX_TOKEN, JobArray
from psij.job_executor import JobExecutor
from psij.job_executor_config import JobExecutorConfig
from psij.job_spec import JobSpec
from psij.job_state import JobState
from psij.job_status import JobStatus
from psij.queue_limits import QueueLimits, check_queue_limits, limits_from_config
from psij.submission_gate import GateWaker, SubmissionGate, check_max_in_flight
from psij.transport import Transport, transport_for_url

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
    :param max_in_flight: at most this many of this executor's jobs (array elements count
        one each) are at the scheduler and not ended; the others wait, QUEUED, held by psij,
        and go as earlier ones end (None: no cap). See `psij.submission_gate`.
    :param remote_paths: where directories of the submitting side are on the cluster, local
        prefix -> remote prefix (absolute paths): a path of the job's side given under a
        local prefix is used under its remote one, a path of the submitting side given under
        a remote prefix under its local one, and over SSH a staged file under a local prefix
        is kept at its mapped place on the cluster. See `psij.batch.remote_paths`.
    :param queue_limits: per queue name, the limits a job sent to it must keep (keys of
        `psij.queue_limits`: ``max_nodes``, ``max_cores``, ``max_duration``...), on top of
        those the scheduler tells; a job over one is refused at `submit`.
    :param queue_limits_from_scheduler: also read the queues' limits from the scheduler
        (``scontrol show partition``, ``qconf -sq``...), once per ``queue_limits_cache``.
    :param queue_limits_cache: how long (seconds) limits read from the scheduler are used
        before they are read again.
    :param template: a mustache template of the job script's directives used instead of the
        scheduler's built-in one (see `psij.batch.user_templates`).
    :param queue_templates: per queue name, a template used for the jobs sent to that queue
        (before ``template``).

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
                 file_retention: float = 30 * 24 * 3600.0,
                 max_in_flight: Optional[int] = None,
                 remote_paths: Optional[Mapping[PathLike, PathLike]] = None,
                 queue_limits: Optional[Mapping[str, Mapping[str, Any]]] = None,
                 queue_limits_from_scheduler: bool = True,
                 queue_limits_cache: float = 300.0,
                 template: Optional[PathLike] = None,
                 queue_templates: Optional[Mapping[str, PathLike]] = None) -> None:
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
        self.max_in_flight = check_max_in_flight('BatchSchedulerExecutorConfig.max_in_flight',
                                                 max_in_flight)
        self.remote_paths = RemotePaths(remote_paths)
        # Queue limits: see psij.queue_limits.
        self.queue_limits: Dict[str, QueueLimits] = limits_from_config(queue_limits)
        if not isinstance(queue_limits_from_scheduler, bool):
            raise ValueError('BatchSchedulerExecutorConfig.queue_limits_from_scheduler must be '
                             f'True or False, not {queue_limits_from_scheduler!r}')
        self.queue_limits_from_scheduler = queue_limits_from_scheduler
        self.queue_limits_cache = _positive('queue_limits_cache', queue_limits_cache)
        # User templates: see psij.batch.user_templates.
        self.template = template
        self.queue_templates = dict(queue_templates or {})


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
    #: What sends jobs psij holds (the process's submitting thread; tests give one of their
    #: own on simulated time).
    gate_waker: ClassVar[Optional[GateWaker]] = None

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
        self.transport: Transport = transport if transport is not None else \
            transport_for_url(url)
        self.scheduler = self.make_scheduler(config)
        self.templates = UserTemplates.for_executor(config.template, config.queue_templates,
                                                    self.scheduler)
        self.directory = remote_path(self.transport, config.work_directory) / self.name
        self._gate = SubmissionGate(self, config.max_in_flight, self.gate_waker)
        self._array_limit: Optional[int] = None
        self._job_limit: Optional[int] = None
        # Per job id: where its staged files are, until psij has staged after its end.
        self._staging_plans: Dict[str, StagingPlan] = {}

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

    def _check_job(self, job: Job) -> JobSpec:
        spec = super()._check_job(job)
        check_queue_limits(self, job, spec)  # a job over its queue's limits is refused
        return spec

    def submit(self, job: Job) -> None:
        """Write the job's script and submit it; on return the job is QUEUED and has its
        native id, unless psij holds it (``max_in_flight``, or predecessors the scheduler
        cannot wait for: see `psij.submission_gate`). Raises `InvalidJobException` for a bad
        specification and `SubmitException` if the scheduler refused the job."""
        self._check_job(job)
        self._offer([job])

    def submit_array(self, array: JobArray) -> None:
        """Submit every element of ``array`` as ONE native array (split where the scheduler's
        array limit demands), or element by element where the scheduler runs no arrays."""
        if self.scheduler.element_names is None:
            super().submit_array(array)
            return
        self._check_array_size(array)
        checked: List[Job] = []
        try:
            for job in array.jobs:
                self._check_job(job)
                checked.append(job)
        except BaseException:
            for job in checked:
                job.executor = None
            raise
        self._offer(list(array.jobs))

    @property
    def _over_ssh(self) -> bool:
        # A transport that places files on the far side (`remote_side`) is a remote one.
        return getattr(self.transport, 'install_files', None) is not None

    def _offer(self, jobs: List[Job]) -> None:
        try:
            for job in jobs:
                check_submittable(job)
            self._gate.submit(jobs)
        except BaseException:
            for job in jobs:
                if job.native_id is None and not self._gate.holds(job):
                    job.executor = None
            raise

    def _send(self, jobs: List[Job]) -> None:
        """Submit ``jobs`` now: one job, or elements of one array (see `SubmissionGate`)."""
        if len(jobs) == 1 and jobs[0].array is None:
            self._submit_native(jobs[0], jobs)
            return
        limit = self._elements_per_array()
        for start in range(0, len(jobs), limit):
            part = jobs[start:start + limit]
            self._submit_native(part[0], part)

    def _submit_native(self, first: Job, jobs: List[Job]) -> None:
        """One native submission of ``jobs`` (``first`` alone, or array elements)."""
        plan = self._staging_plan(first, jobs)
        if plan is not None and plan.area is not None:
            from psij.batch import remote_staging  # only over SSH
            remote_staging.push_stage_in(self.transport, plan)
        # Over SSH, the script is written in the same round trip as the submit command.
        batched = getattr(self.transport, 'batched', contextlib.nullcontext)
        with batched():
            script = self._write_script(first, jobs, plan)
            submitted = submit_once(self.transport, self.scheduler, self.user(),
                                    str(script.path), self.scheduler.submit_command(script),
                                    self.batch_config.command_timeout,
                                    lambda: self._write_script(first, jobs, plan))
        if plan is not None and first.array is None and len(jobs) == 1:
            self._staging_plans[first.id] = plan
            if plan.area is not None:
                from psij.batch import remote_staging
                remote_staging.remove_moved_sources(plan)
        native_id = submitted.found or self.scheduler.parse_submit_output(submitted.result)
        native_ids = [native_id] if script.inputs.array is None else \
            self.scheduler.element_ids(native_id, len(jobs))
        files = [pathlib.Path(script.path)]
        for job, element_id in zip(jobs, native_ids):
            job.native_id = element_id
            job._array_native_id = native_id if script.inputs.array is not None else None
            self._set_job_status(job, self.queued_status(script.inputs))
            self.tracker_registry.track(self.scheduler, self.transport, TrackedJob(
                job, self, element_id, self.directory,
                files=files + [self._launcher_log(job)]))
        logger.debug('submitted %d job(s) as %s %s', len(jobs), self.name, native_id)

    def _elements_per_array(self) -> int:
        """The most elements of one native array (asked of the scheduler once)."""
        if self._array_limit is None:
            limit = self.scheduler.max_array_size
            command = self.scheduler.array_limit_command()
            if command is not None:
                result = self.transport.run(command, timeout=self.batch_config.command_timeout)
                limit = self.scheduler.parse_array_limit(result) or limit
                self._job_limit = self.scheduler.parse_job_limit(result)
            self._array_limit = limit or 10**9
        return self._array_limit

    def _check_array_size(self, array: JobArray) -> None:
        """Refuse an array the scheduler could never hold, however it is split."""
        self._elements_per_array()
        if self._job_limit is not None and array.count > self._job_limit:
            raise InvalidJobException(
                f'JobArray.count is {array.count}; allowed: 1 to {self._job_limit} (the most '
                f'jobs {self.name} holds at once, whatever the array is split into)')

    def _waits_natively_for(self, job: Job, predecessor: Job) -> bool:
        """True if the scheduler can make ``job`` wait for ``predecessor`` (a job of the same
        scheduler, reached the same way, already submitted)."""
        other = predecessor.executor
        return (self.scheduler.supports_dependencies and isinstance(other, BatchSchedulerExecutor)
                and other.scheduler == self.scheduler and other.transport == self.transport
                and predecessor.native_id is not None)

    def _abandon(self, job: Job, status: JobStatus) -> None:
        """End ``job``, whose dependency can no longer be met, with ``status``, and remove it
        from the scheduler."""
        if not self.tracker_registry.abandon(self.scheduler, self.transport, job, status):
            self._set_job_status(job, status)

    def _staging_plan(self, job: Job, jobs: Optional[List[Job]] = None
                      ) -> Optional[StagingPlan]:
        """Where the staged files of ``job`` (or of the array ``jobs``) are on each side, and
        its spec as the job's side sees it; None if it stages nothing and no path is mapped."""
        array = job.array if jobs is not None and len(jobs) > 1 or job.array is not None \
            else None
        spec = array.spec if array is not None else job.spec
        if spec is None:
            return None
        paths = self.batch_config.remote_paths
        staging = bool(spec.stage_in or spec.stage_out or spec.cleanup)
        if not staging and not paths:
            return None
        if staging and array is not None and self._over_ssh:
            raise InvalidJobException('JobArray: JobSpec.stage_in, stage_out and cleanup are '
                                      'not supported for arrays over SSH; submit the jobs '
                                      'one by one')
        area = pathlib.PurePosixPath(self.directory / f'{job.id}.staging') \
            if staging and self._over_ssh else None
        # The submit command runs (so a job without a directory runs) in the remote home
        # over SSH, else in this process's working directory.
        home = getattr(self.transport, 'home', None)
        submit_directory = str(home()) if home is not None and staging else os.getcwd()
        return make_plan(spec, paths, area, submit_directory)

    def take_staging_plan(self, job: Job) -> Optional[StagingPlan]:
        """The staging plan of ``job`` (submitted by this executor), forgotten here: what
        `psij.batch.stage_after_end` does after the job's end."""
        return self._staging_plans.pop(job.id, None)

    def script_inputs(self, job: Job, jobs: Optional[List[Job]] = None,
                      plan: Optional[StagingPlan] = None) -> ScriptInputs:
        """What the script of ``job`` (or of the array elements ``jobs``, ``job`` the first)
        is made from (checks the spec and the launcher); ``plan``: its staging plan, made
        here if not given."""
        array = job.array if jobs is not None and len(jobs) > 1 or job.array is not None \
            else None
        spec = array.spec if array is not None else job.spec
        if spec is None:
            raise InvalidJobException('Job.spec is None; give the job a JobSpec')
        launcher = self._get_launcher(spec.launcher or 'single')
        slice_ = None
        launcher_log = self._launcher_log(job)
        launch_job = job
        if array is not None:
            members = jobs or [job]
            slice_ = ArraySlice(array.id, members[0].array_index or 0, len(members),
                                array.throttle)
            launcher_log = self.directory / f'{array.id}-{INDEX_TOKEN}{markers.LAUNCHER_LOG}'
            launch_job = Job(spec)
        launch_command = placed_launch_command(
            self.transport, self.directory.parent,
            launcher.get_launch_command(launch_job, str(launcher_log)))
        return ScriptInputs(job=job, marker_directory=self.directory,
                            launch_command=launch_command,
                            launcher_log=launcher_log, array=slice_,
                            dependencies=native_dependencies(job),
                            staging=plan if plan is not None else self._staging_plan(
                                job, jobs))

    def generate_script(self, job: Job) -> str:
        """The script `submit` would write for ``job`` (checks the job like `submit`); for an
        element of an array, the array's script."""
        array = job.array
        return self.job_script(
            self.script_inputs(job, list(array.jobs) if array is not None else None))

    def job_script(self, inputs: ScriptInputs) -> str:
        """The script of ``inputs``: the scheduler's, or with the directives of a user
        template (`psij.batch.user_templates`)."""
        return self.templates.render(self.scheduler, inputs)

    def queued_status(self, inputs: ScriptInputs) -> JobStatus:
        """The QUEUED status of a job just submitted from ``inputs`` (no metadata here)."""
        return JobStatus(JobState.QUEUED)

    def _launcher_log(self, job: Job) -> pathlib.Path:
        # Always one log per job, even if the config names a launcher_log_file: the job's
        # exit-code marker quotes launcher failures from this log, and a file shared by jobs
        # would pass one job's launcher failure on to another.
        return self.directory / f'{job.id}{markers.LAUNCHER_LOG}'

    def _write_script(self, job: Job, jobs: List[Job],
                      plan: Optional[StagingPlan] = None) -> JobScript:
        inputs = self.script_inputs(job, jobs if job.array is not None else None, plan)
        text = self.job_script(inputs)
        path = self.directory / f'{inputs.script_stem}{markers.SCRIPT}'
        try:
            self.transport.make_directory(self.directory, 0o700)
            self.transport.write_file(path, text, 0o600)
        except OSError as error:
            # A connection that failed (over SSH) may work when tried again.
            raise SubmitException(
                f'cannot write the job script in the work directory {self.directory}: '
                f'{error}', transient=isinstance(error, ConnectionError)) from error
        return JobScript(inputs, path, text)

    # --- cancel ----------------------------------------------------------------------------

    def cancel(self, job: Job) -> None:
        """Ask the scheduler to cancel the job (pending or running); it ends CANCELED unless
        it had already ended. Returns at once: cancels made close together go to the
        scheduler as one command (``scancel ID ID...``), soon after; a cancel the scheduler
        cannot take now (controller down) is tried again until it can, and one it refuses
        (another user's job) is logged and said in the job's status message. A job psij
        holds is CANCELED at once and never reaches the scheduler.

        A job no tracker watches (its status was set by hand) is cancelled at once, in this
        thread; `SubmitException` says if the scheduler refused."""
        if not self._should_cancel(job):
            return
        if self._gate.cancel(job):
            return
        native_id = job.native_id
        if native_id is None:
            raise InvalidJobException(f'job {job.id} has no native id yet')
        if self.tracker_registry.cancel(self.scheduler, self.transport, job):
            return
        result = self.transport.run(self.scheduler.cancel_command([native_id]),
                                    timeout=self.batch_config.command_timeout)
        self.scheduler.parse_cancel_output(result, [native_id])

    def cancel_jobs(self, jobs: Sequence[Job]) -> None:
        """`cancel` every job of ``jobs`` (they go as one command per scheduler)."""
        for job in jobs:
            if job.executor is self:
                self.cancel(job)
            else:
                job.cancel()

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
        """The user whose jobs `list` shows: the one commands run as, on the far side of the
        transport (never from the terminal: ``os.getlogin`` fails without one)."""
        return remote_user(self.transport) or current_user()
