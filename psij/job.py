"""A job: a specification plus the status of one run of it."""

import logging
import threading
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Callable, List, Optional, Sequence, Tuple, Union

from psij.dependencies import Dependency, DependencyCondition, as_jobs
from psij.exceptions import InvalidJobException
from psij.job_spec import JobSpec
from psij.job_state import JobState
from psij.job_status import JobStatus

if TYPE_CHECKING:
    from psij.job_array import JobArray
    from psij.job_executor import JobExecutor

logger = logging.getLogger('psij')


class JobStatusCallback:
    """An object form of a status callback: override `job_status_changed`."""

    def job_status_changed(self, job: 'Job', job_status: JobStatus) -> None:
        """Called once for every state the job enters, in order."""
        raise NotImplementedError


CallbackFunction = Callable[['Job', JobStatus], None]
CallbackLike = Union[JobStatusCallback, CallbackFunction, None]


def _as_function(callback: CallbackLike) -> Optional[CallbackFunction]:
    if callback is None:
        return None
    if isinstance(callback, JobStatusCallback):
        return callback.job_status_changed
    if callable(callback):
        return callback
    raise TypeError('a status callback must be a JobStatusCallback, a callable taking '
                    f'(job, status), or None; not {type(callback).__name__}')


def _implied_states(current: JobState, status: JobStatus, submitted: bool) -> List[JobState]:
    """The main-path states a job must have passed to reach ``status`` from ``current``.

    QUEUED is implied once the backend has the job; ACTIVE only when the job ran (it
    completed, or failed with an exit code). A job canceled before submission gets neither.
    """
    reached_active = status.state in (JobState.ACTIVE, JobState.COMPLETED) or (
        status.state == JobState.FAILED and status.exit_code is not None)
    implied: List[JobState] = []
    if (current == JobState.NEW and status.state != JobState.QUEUED
            and (submitted or reached_active)):
        implied.append(JobState.QUEUED)
    if reached_active and current != JobState.ACTIVE and status.state != JobState.ACTIVE:
        implied.append(JobState.ACTIVE)
    return implied


class Job:
    """One job: a `JobSpec`, its current `JobStatus` and, once submitted, its native id.

    A job is submitted to one executor, once. Its state only moves forward; callbacks see every
    state in order (missing steps are filled in) and exactly one final state.
    """

    def __init__(self, spec: Optional[JobSpec] = None) -> None:
        if spec is not None and not isinstance(spec, JobSpec):
            raise TypeError(f'Job.spec must be JobSpec or None, not {type(spec).__name__}')
        self.spec = spec
        self._id = str(uuid.uuid4())
        self._native_id: Optional[str] = None
        self._status = JobStatus(JobState.NEW)
        self._condition = threading.Condition(threading.Lock())
        self._callback: Optional[CallbackFunction] = None
        self._pending: List[JobStatus] = []
        self._delivering = False
        self.executor: Optional[JobExecutor] = None
        self._cancel_requested = False
        self._dependencies: List[Dependency] = []
        self._final_listeners: List[Callable[[Job, JobStatus], None]] = []
        self._array: Optional[JobArray] = None
        self._array_index: Optional[int] = None
        self._array_native_id: Optional[str] = None

    @property
    def id(self) -> str:
        """A unique id made by this library (not the scheduler's id; see `native_id`)."""
        return self._id

    @property
    def native_id(self) -> Optional[str]:
        """The id the backend gave the job (pid, Slurm job id...), once submitted or attached."""
        return self._native_id

    @native_id.setter
    def native_id(self, value: Optional[str]) -> None:
        self._native_id = value

    @property
    def status(self) -> JobStatus:
        """The current status."""
        return self._status

    @property
    def array(self) -> Optional['JobArray']:
        """The `psij.JobArray` this job is an element of, if any."""
        return self._array

    @property
    def array_index(self) -> Optional[int]:
        """This element's index in its array (0 to count - 1), or None."""
        return self._array_index

    @property
    def dependencies(self) -> Tuple[Dependency, ...]:
        """What this job runs after (see `depends_on`)."""
        return tuple(self._dependencies)

    def depends_on(self, *predecessors: Union['Job', 'JobArray'],
                   condition: DependencyCondition = DependencyCondition.COMPLETED) -> 'Job':
        """Run this job after ``predecessors`` (jobs, or every element of job arrays): after
        they all COMPLETED (the default), or, with ``DependencyCondition.ENDED``, after they
        all ended in any state. Call before submitting; the predecessors must be submitted
        before this job is. Returns this job."""
        if self.executor is not None or self._status.state != JobState.NEW:
            raise InvalidJobException(f'job {self.id} is already submitted; dependencies are '
                                      'set before submitting')
        if not isinstance(condition, DependencyCondition):
            raise TypeError('Job.depends_on: condition must be a DependencyCondition '
                            f'(COMPLETED or ENDED), not {condition!r}')
        jobs = as_jobs(predecessors)
        if not jobs:
            raise InvalidJobException('Job.depends_on: give at least one predecessor')
        if any(job is self for job in jobs):
            raise InvalidJobException(f'Job.depends_on: job {self.id} cannot depend on itself')
        self._dependencies.append(Dependency(tuple(jobs), condition))
        return self

    def _on_final(self, listener: Callable[['Job', JobStatus], None]) -> None:
        """Call ``listener(job, status)`` once the job is final (at once if it is): for the
        parts of psij that act on a job's end (dependents, the cap on jobs in flight)."""
        with self._condition:
            if not self._status.state.final:
                self._final_listeners.append(listener)
                return
            status = self._status
        listener(self, status)

    def set_job_status_callback(self, callback: CallbackLike) -> None:
        """Call ``callback(job, status)`` on each state change; None removes it."""
        self._callback = _as_function(callback)

    def cancel(self) -> None:
        """Ask the executor to cancel the job; it will end CANCELED unless already final.

        A job never submitted becomes CANCELED at once.
        """
        if self.executor is None:
            self._set_status(JobStatus(JobState.CANCELED, message='canceled before submission'))
            return
        self.executor.cancel(self)

    def wait(self, timeout: Union[timedelta, float, None] = None,
             target_states: Union[JobState, Sequence[JobState], None] = None
             ) -> Optional[JobStatus]:
        """Block until the job is in one of ``target_states`` (default: a final state).

        Also returns when the job reaches a final state that is not a target, since it cannot
        change any more. Returns the status that ended the wait, or None on timeout.
        ``timeout`` is a `timedelta` or a number of seconds.
        """
        if isinstance(target_states, JobState):
            targets: Sequence[JobState] = (target_states,)
        else:
            targets = tuple(target_states) if target_states else ()
        seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout

        def done() -> bool:
            state = self._status.state
            return state.final or state in targets or any(
                state.is_greater_than(target) and not state.final for target in targets)

        with self._condition:
            if not self._condition.wait_for(done, seconds):
                return None
            return self._status

    def _set_status(self, status: JobStatus,
                    before_delivery: Optional[Callable[[JobStatus], None]] = None,
                    as_recorded: bool = False) -> bool:
        """Move to ``status`` (executors call this). Returns False if it was ignored.

        A status that would move the job backwards, or any status after a final one, is
        ignored. Intermediate states the job must have passed through are filled in. A status
        in the job's current, non-final state with a new message (a pending job's reason)
        replaces `status` without a callback, since the state did not change. A FAILED end of
        a job whose cancel was asked for is taken as CANCELED (see `_ends_by_cancel`), under
        the same lock as `_request_cancel`, so the two never race.

        ``before_delivery`` is called with the status as taken (it may differ from
        ``status``), before any callback: an executor records there what every process must
        agree on (the local executor's journal). ``as_recorded``: ``status`` is such a record,
        made where the rule was already applied (by the process that owned the job), and is
        taken as it is.
        """
        with self._condition:
            current = self._status.state
            if (status.state == current and not current.final
                    and status.message is not None and status.message != self._status.message):
                self._status = status
                return False
            if not status.state.is_greater_than(current):
                logger.debug('job %s: ignored %s after %s', self._id, status.state, current)
                return False
            if status.state == JobState.FAILED and not as_recorded \
                    and self._ends_by_cancel(status):
                message = f'canceled ({status.message})' if status.message else 'canceled'
                status = JobStatus(JobState.CANCELED, status.time, message, status.exit_code,
                                   status.metadata)
            for state in _implied_states(current, status, self._native_id is not None):
                self._pending.append(JobStatus(state, status.time))
            self._pending.append(status)
            self._status = status
            self._condition.notify_all()
            deliver = not self._delivering
            self._delivering = True
        if before_delivery is not None:
            before_delivery(status)
        if deliver:
            self._deliver()
        if status.state.final:
            self._tell_final_listeners(status)
        return True

    def _tell_final_listeners(self, status: JobStatus) -> None:
        with self._condition:
            listeners, self._final_listeners = self._final_listeners, []
        for listener in listeners:
            try:
                listener(self, status)
            except Exception:
                logger.exception('a listener of the end of job %s raised', self._id)

    def _request_cancel(self) -> bool:
        """Record that a cancel of this job was asked for, before anything is signalled; False
        if the job is already final (nothing to cancel). The only place the request is
        recorded: `JobExecutor._should_cancel` calls it, and an executor that learns of a
        cancel asked elsewhere (another process) too."""
        with self._condition:
            if self._status.state.final:
                return False
            self._cancel_requested = True
            return True

    def _ends_by_cancel(self, status: JobStatus) -> bool:
        """True if ``status`` (FAILED or CANCELED) ends a job whose cancel was asked for: the
        job then ends CANCELED, whatever the backend calls the end. Schedulers report a killed
        job in many ways (a signal, 265, 0:15, 137...); once the cancel was asked for, a
        failure is the cancel taking effect. This is the one place the rule is written: `Job`
        applies it to the statuses it is given, and the batch tracker asks it whether an end
        needs more evidence."""
        return self._cancel_requested and status.state in (JobState.FAILED, JobState.CANCELED)

    def _deliver(self) -> None:
        """Deliver pending statuses in order; only one thread delivers for a job at a time."""
        while True:
            with self._condition:
                if not self._pending:
                    self._delivering = False
                    return
                batch, self._pending = self._pending, []
            for status in batch:
                self._notify(status)

    def _notify(self, status: JobStatus) -> None:
        targets = [self._callback, getattr(self.executor, '_status_callback', None)]
        for callback in targets:
            if callback is None:
                continue
            try:
                callback(self, status)
            except Exception:
                logger.exception('status callback %r raised for job %s (%s); delivery goes on',
                                 callback, self._id, status.state)

    def __repr__(self) -> str:
        return f'Job(id={self._id}, native_id={self._native_id}, state={self._status.state})'
