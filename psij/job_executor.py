"""The executor interface and the way to obtain an executor by name."""

import os
import shutil
import threading
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Callable, ClassVar, Dict, List, Optional, Sequence, Set

from psij.exceptions import InvalidJobException
from psij.job import CallbackFunction, CallbackLike, Job, _as_function
from psij.job_executor_config import JobExecutorConfig
from psij.job_spec import JobSpec
from psij.job_state import JobState
from psij.job_status import JobStatus
from psij.launcher import Launcher
from psij.plugins import PluginRegistry, version_matches
from psij.resource_spec import ResourceSpecV1
from psij.staging import check_staging

if TYPE_CHECKING:
    from psij.job_array import JobArray

executors: 'PluginRegistry[JobExecutor]' = PluginRegistry('psij.executors', 'executor')


class JobExecutor(ABC):
    """Runs jobs on some backend: local processes, a batch scheduler...

    Obtain one with `JobExecutor.get_instance`. A subclass sets `name` and `version` and
    implements `submit`, `cancel`, `attach` and `list`; it reports state changes with
    `_set_job_status`.
    """

    name: ClassVar[str] = ''
    version: ClassVar[str] = '0.0.0'

    def __init__(self, url: Optional[str] = None,
                 config: Optional[JobExecutorConfig] = None) -> None:
        self.url = url
        self.config = config if config is not None else JobExecutorConfig()
        self._status_callback: Optional[CallbackFunction] = None
        self._launchers: Dict[str, Launcher] = {}
        self._launchers_lock = threading.Lock()

    @abstractmethod
    def submit(self, job: Job) -> None:
        """Submit a NEW job. On return the job has a native id and is at least QUEUED.

        Raises `InvalidJobException` for a bad specification, `SubmitException` if the
        backend refused the job.
        """

    @abstractmethod
    def cancel(self, job: Job) -> None:
        """Ask the backend to stop the job; it ends CANCELED unless it was already final."""

    @abstractmethod
    def attach(self, job: Job, native_id: str) -> None:
        """Bind a NEW job object to the backend job ``native_id``, possibly submitted by
        another process, and track it from now on."""

    @abstractmethod
    def list(self) -> List[str]:
        """The native ids of the backend jobs this executor can see for this user."""

    def submit_array(self, array: 'JobArray') -> None:
        """Submit every element of ``array`` (a `psij.JobArray`). This default submits each
        element as a job of its own; executors with native arrays make it one submission."""
        for job in array.jobs:
            self.submit(job)

    def cancel_jobs(self, jobs: Sequence[Job]) -> None:
        """Cancel every job of ``jobs``; executors that can, do it with one command."""
        for job in jobs:
            job.cancel()

    def set_job_status_callback(self, callback: CallbackLike) -> None:
        """Call ``callback(job, status)`` for every state change of every job of this
        executor; None removes it."""
        self._status_callback = _as_function(callback)

    # --- for subclasses ------------------------------------------------------------------

    def _set_job_status(self, job: Job, status: JobStatus,
                        before_delivery: Optional[Callable[[JobStatus], None]] = None,
                        as_recorded: bool = False) -> bool:
        """Move ``job`` to ``status``; returns False if it was ignored (stale or after final).
        ``before_delivery`` gets the status as the job took it (a FAILED end after a cancel is
        CANCELED), before any callback; ``as_recorded``: ``status`` is a record made where
        that rule was already applied (see `Job._set_status`)."""
        return job._set_status(status, before_delivery, as_recorded)

    def _check_job(self, job: Job) -> JobSpec:
        """Validate a job before submission and bind it to this executor; returns its spec."""
        if not isinstance(job, Job):
            raise TypeError(f'submit() takes a Job, not {type(job).__name__}')
        if job.status.state != JobState.NEW or job.executor is not None:
            raise InvalidJobException(
                f'job {job.id} is {job.status.state}; only a NEW job that was never submitted '
                'can be submitted')
        spec = job.spec
        if spec is None:
            raise InvalidJobException('Job.spec is None; give the job a JobSpec to submit it')
        self._check_executable(spec)
        check_staging(spec.stage_in, spec.stage_out, spec.cleanup, spec.directory)
        if isinstance(spec.resources, ResourceSpecV1):
            spec.resources.check_consistency()
        self._get_launcher(spec.launcher or 'single')
        job.executor = self
        return spec

    def _check_attachable(self, job: Job) -> None:
        """Raise `InvalidJobException` unless ``job`` is NEW and was never submitted."""
        if job.status.state != JobState.NEW or job.executor is not None:
            raise InvalidJobException(f'job {job.id} is {job.status.state}; only a NEW job '
                                      'that was never submitted can be attached')

    def _should_cancel(self, job: Job) -> bool:
        """The checks every `cancel` starts with: False if there is nothing for the backend
        to do (the job is final, or was never submitted and is now CANCELED); raises if the
        job belongs to another executor; otherwise marks the cancel as asked for."""
        if job.status.state.final:
            return False
        if job.executor is None:
            job.cancel()
            return False
        if job.executor is not self:
            raise InvalidJobException(f'job {job.id} belongs to another executor')
        return job._request_cancel()

    @staticmethod
    def _check_executable(spec: JobSpec) -> None:
        executable = spec.executable
        if executable is None or executable == '':
            raise InvalidJobException('JobSpec.executable is not set; give a program name or path')
        if '/' in executable:
            return
        env_path = (spec.environment or {}).get('PATH')
        if env_path is None and spec.inherit_environment:
            env_path = os.environ.get('PATH', os.defpath)
        if shutil.which(executable, path=env_path or os.defpath) is None:
            raise InvalidJobException(
                f'JobSpec.executable {executable!r} is not an absolute path and was not found '
                f'on PATH ({env_path or os.defpath}); give an absolute path or a program on PATH')

    def _get_launcher(self, name: str) -> Launcher:
        """The launcher called ``name``, one instance per executor."""
        with self._launchers_lock:
            launcher = self._launchers.get(name)
            if launcher is None:
                try:
                    launcher = Launcher.get_instance(name, config=self.config)
                except ValueError as error:
                    raise InvalidJobException(f'JobSpec.launcher: {error}') from error
                self._launchers[name] = launcher
            return launcher

    # --- the registry --------------------------------------------------------------------

    @staticmethod
    def get_instance(name: str, version_constraint: Optional[str] = None,
                     url: Optional[str] = None,
                     config: Optional[JobExecutorConfig] = None) -> 'JobExecutor':
        """A new executor of the kind called ``name`` (an alias works too).

        ``auto`` picks the batch scheduler that answers where the executor runs (this
        machine, or the host of an ``ssh://`` url), else ``local``; see
        `psij.scheduler_detection`. Raises ValueError naming the known executors if
        ``name`` is unknown or its version does not satisfy ``version_constraint`` (e.g.
        ``'>=0.1, <2'``), and
        `psij.plugins.PluginLoadError` with the import error if its plugin fails to import.
        """
        if name == 'auto':
            from psij.scheduler_detection import detect  # runs commands: only when asked
            from psij.transport import transport_for_url
            name = detect(transport_for_url(url)).name
            if name == 'local':
                url = None
        cls = executors.load(name)
        if not version_matches(cls.version, version_constraint):
            raise ValueError(f'executor {name!r} is version {cls.version}, which does not '
                             f'satisfy {version_constraint!r}')
        return cls(url=url, config=config)

    @staticmethod
    def get_executor_names() -> Set[str]:
        """The names of every installed executor, aliases included."""
        return executors.names()

    @staticmethod
    def register_executor(name: str, cls: 'type[JobExecutor]') -> None:
        """Make ``cls`` available under ``name`` without an entry point."""
        executors.register(name, cls)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(url={self.url!r}, config={self.config!r})'
