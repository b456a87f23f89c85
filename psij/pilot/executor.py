"""The ``pilot`` executor: many small tasks run inside a few allocations.

Each job submitted to a `PilotJobExecutor` is a *task*: it is written to the pilot's queue on
the shared file system (`psij.pilot.task_queue`), and workers inside allocations that the
pilot obtains from another executor (`psij.pilot.allocations`) claim and run it. States:
QUEUED while the task waits for room in an allocation, ACTIVE once a worker holds it, then
the final state the worker recorded (``done/<task>.ec``), or FAILED when the allocations that
held it ended ``max_attempts`` times before it did. A task whose allocation ended under it
is queued again and stays ACTIVE, since a job never goes back to QUEUED: its message says it
waits again (`WAITING_AGAIN`), then that it runs again (`RUNNING_AGAIN`) once a worker holds
it again; any process following the task sees this, not only the one that queued it again.
A task this process had not yet seen ACTIVE is still QUEUED when it is queued again, and its
message says so (`QUEUED_AGAIN`).

A task with predecessors (`Job.depends_on`) is held in this process by the executor's
`psij.submission_gate.SubmissionGate`, as the local and batch executors hold theirs: QUEUED,
without a native id, its message saying how many predecessors it waits for; it is written to
the queue once they ended as its dependency requires, or ends FAILED if they cannot (see
`psij.dependencies`). Its predecessors may be tasks of this pilot or jobs of any executor.
A held task lives only in this process: if the process dies first, it is never queued.

``native_id`` is ``<pilot name>/<task id>``; any process with the same pilot name and work
directory can `attach` to it. One poll target per pilot per process, on the process's one
status poller (`psij.poller`), looks at the pilot directory for every task at once.
"""

import os
import pathlib
import threading
import time
from typing import ClassVar, Dict, List, Optional, Set

from psij.dependencies import check_submittable
from psij.exceptions import InvalidJobException
from psij.job import Job
from psij.job_array import JobArray
from psij.job_executor import JobExecutor
from psij.job_executor_config import JobExecutorConfig
from psij.job_state import JobState
from psij.job_status import JobStatus
from psij.pilot.allocations import Allocations
from psij.pilot.config import PilotExecutorConfig
from psij.pilot.outcomes import ResultReader
from psij.pilot.task_batches import element_id, put_batches, task_ids
from psij.pilot.task_needs import checked_needs
from psij.pilot.task_queue import PilotDirectory, TaskRequest
from psij.poller import get_poller
from psij.serialize import spec_to_dict
from psij.submission_gate import GateWaker, SubmissionGate

#: Seconds between two looks at the allocation records (for other processes' allocations).
RECORDS_INTERVAL = 2.0
#: The message of an ACTIVE task back in the queue (a job never goes back to QUEUED), of a
#: QUEUED one back in the queue (this process had not seen it ACTIVE), and of one that a
#: worker holds again after either.
WAITING_AGAIN = ('its allocation ended before it did: waiting again for a slot in an '
                 'allocation (still ACTIVE: a job never goes back to QUEUED)')
QUEUED_AGAIN = ('its allocation ended before it did: queued again, waiting for a slot in an '
                'allocation')
RUNNING_AGAIN = 'running again after its allocation ended before it did'
#: The message of a task its predecessors held, once they let it go to the queue.
RELEASED = 'its predecessors ended: waiting for a slot in an allocation'


def status_of(result: Dict[str, object]) -> JobStatus:
    """The final status a task's recorded outcome stands for."""
    state = JobState.from_name(str(result.get('state')))
    exit_code = result.get('exit_code')
    message = result.get('message')
    ended = result.get('time')
    return JobStatus(state, float(ended) if isinstance(ended, (int, float)) else None,
                     str(message) if message is not None else None,
                     exit_code if isinstance(exit_code, int) else None,
                     {key: result.get(key) for key in ('attempt', 'allocation', 'worker')})


class _Pilot:
    """One pilot as this process sees it: its tracked tasks and allocations. Polled."""

    def __init__(self, config: PilotExecutorConfig) -> None:
        self.config = config
        self.directory = PilotDirectory(config.pilot_directory)
        self.directory.ensure()
        self.allocations = Allocations(config, self.directory, self.wake)
        self.tasks: Dict[str, Job] = {}
        self.outcomes = ResultReader(self.directory.done)
        self._new: List[str] = []
        self.lock = threading.Lock()
        self._counter = 0
        self._records_looked_at = 0.0

    def new_task_id(self) -> str:
        with self.lock:
            self._counter += 1
            return f'{time.time_ns():019d}-{os.getpid()}-{self._counter}'

    def track(self, task_id: str, job: Job) -> None:
        with self.lock:
            self.tasks[task_id] = job
            self._new.append(task_id)  # its outcome may be older than this look
        self.wake(0.05)

    def wake(self, delay: float = 0.0) -> None:
        get_poller().schedule(self, delay)

    def poll(self) -> Optional[float]:
        """One look at the pilot directory for every task and allocation; its cost follows
        what changed (new outcomes, current claims), not the number of tasks."""
        if time.monotonic() - self._records_looked_at >= RECORDS_INTERVAL:
            # Allocations other processes submitted (or left behind) are watched here too.
            self._records_looked_at = time.monotonic()
            self.allocations.watch_all()
        requeued, _ = self.allocations.release_ended()
        for task_id in requeued:
            job = self.tasks.get(task_id)
            if job is not None:
                state = job.status.state
                job._set_status(JobStatus(state, message=WAITING_AGAIN
                                          if state == JobState.ACTIVE else QUEUED_AGAIN))
        ended = self.outcomes.refresh()
        with self.lock:
            ended += [task_id for task_id in self._new if task_id in self.outcomes.results]
            self._new = []
            finished = [(task_id, self.tasks.pop(task_id)) for task_id in ended
                        if task_id in self.tasks]
        for task_id, job in finished:
            job._set_status(status_of(self.outcomes.results[task_id]))
        claimed = set()
        for _, _, entry in self.directory.claims():
            for task_id in task_ids(entry.task_id):
                claimed.add(task_id)
                job = self.tasks.get(task_id)
                if job is None:
                    continue
                if job.status.state == JobState.QUEUED:
                    again = job.status.message == QUEUED_AGAIN
                    job._set_status(JobStatus(JobState.ACTIVE,
                                              message=RUNNING_AGAIN if again else None))
                elif job.status.message == WAITING_AGAIN:
                    job._set_status(JobStatus(JobState.ACTIVE, message=RUNNING_AGAIN))
        self._say_waiting_again(claimed)
        waiting, longest = self.directory.waiting_demand()
        self.allocations.add_as_needed(waiting, longest)
        if self.tasks or waiting or self.allocations.watching():
            return self.config.poll_interval
        return None


    def _say_waiting_again(self, claimed: Set[str]) -> None:
        """An ACTIVE task that no worker holds and that is back in the queue (its allocation
        ended under it, released by this process or another) says so in its message: a job
        never goes back from ACTIVE to QUEUED. One listing of the queue, only when some
        ACTIVE task is held by no worker (a task between its outcome and this look is too)."""
        with self.lock:
            loose = [(task_id, job) for task_id, job in self.tasks.items()
                     if job.status.state == JobState.ACTIVE and task_id not in claimed
                     and job.status.message != WAITING_AGAIN]
        if not loose:
            return
        waiting = {task_id for entry in self.directory.queued()
                   for task_id in task_ids(entry.task_id)}
        for task_id, job in loose:
            if task_id in waiting:
                job._set_status(JobStatus(JobState.ACTIVE, message=WAITING_AGAIN))


_pilots: Dict[pathlib.Path, _Pilot] = {}
_pilots_lock = threading.Lock()


def _pilot_for(config: PilotExecutorConfig) -> _Pilot:
    """The one `_Pilot` of this process for the pilot directory of ``config``."""
    with _pilots_lock:
        pilot = _pilots.get(config.pilot_directory)
        if pilot is None:
            pilot = _Pilot(config)
            _pilots[config.pilot_directory] = pilot
        return pilot


class PilotJobExecutor(JobExecutor):
    """Runs jobs as tasks inside allocations of another executor; see `psij.pilot`.

    ``config`` is a `PilotExecutorConfig` (a plain `JobExecutorConfig` gives the defaults
    with its work directory); ``url``, if given, is the providing executor's url.
    """

    name = 'pilot'
    version = '0.1.0'
    #: What queues the tasks psij held for their predecessors (the process's submitting
    #: thread; tests may give another).
    gate_waker: ClassVar[Optional[GateWaker]] = None

    def __init__(self, url: Optional[str] = None,
                 config: Optional[JobExecutorConfig] = None) -> None:
        if config is None or not isinstance(config, PilotExecutorConfig):
            config = PilotExecutorConfig(
                url=url, work_directory=None if config is None else config.work_directory)
        elif url is not None and config.url is None:
            config.url = url
        super().__init__(url=url, config=config)
        self.pilot_config = config
        self._pilot: Optional[_Pilot] = None
        # Tasks with predecessors wait here; the pilot itself has no cap on tasks in flight.
        self._gate = SubmissionGate(self, None, self.gate_waker)
        # A task's native id, cancel check and queue file go together (see _send, cancel).
        self._sending = threading.Lock()

    @property
    def pilot(self) -> _Pilot:
        """This process's view of the pilot (made on first use: no files before that)."""
        if self._pilot is None:
            self._pilot = _pilot_for(self.pilot_config)
        return self._pilot

    def submit(self, job: Job) -> None:
        """Queue ``job`` as a task; on return it is QUEUED with its native id.

        A task with predecessors (`Job.depends_on`) is QUEUED without a native id, held by
        psij until they end as its dependency requires (see `psij.submission_gate`), then
        queued; one whose dependency can no longer be met ends FAILED. Raises
        `InvalidJobException` for a task no allocation of this pilot could run (more than one
        node, more cores than ``cores_per_node``, a duration not shorter than the
        allocations') and for predecessors never submitted or in a cycle."""
        spec = self._check_job(job)
        try:
            request, duration = checked_needs(spec, self.pilot_config)
            if job.dependencies:
                check_submittable(job)
                self._gate.submit([job])
            else:  # no gate: the pilot has no cap, nothing is held but for predecessors
                self._queue(job, request, duration)
        except BaseException:
            if job.native_id is None and job.status.state == JobState.NEW:
                job.executor = None
            raise

    def _send(self, jobs: List[Job]) -> None:
        """Write ``jobs`` to the pilot's queue now (also the gate's `Sender`: a held task
        once its predecessors allow it); each is then QUEUED with its native id."""
        for job in jobs:
            assert job.spec is not None  # checked at submit
            self._queue(job, *checked_needs(job.spec, self.pilot_config))

    def _queue(self, job: Job, request: TaskRequest, duration: int) -> None:
        """Write ``job`` to the queue as a task; it is then QUEUED with its native id."""
        assert job.spec is not None
        pilot = self.pilot
        held = job.status.state == JobState.QUEUED
        with self._sending:
            if job._cancel_requested:  # canceled while the gate handed it over
                self._set_job_status(job, JobStatus(JobState.CANCELED,
                                                    message='canceled before it was queued'))
                return
            task_id = pilot.new_task_id()
            document = {'id': task_id, 'attempt': 1, 'spec': spec_to_dict(job.spec),
                        'submitted': time.time()}
            pilot.directory.put(task_id, request, document, duration)
            job.native_id = f'{self.pilot_config.name}/{task_id}'
        self._set_job_status(job, JobStatus(JobState.QUEUED, message=RELEASED if held else None))
        pilot.track(task_id, job)

    def _waits_natively_for(self, job: Job, predecessor: Job) -> bool:
        """Never: workers know nothing of dependencies; psij holds the task instead."""
        return False

    def _abandon(self, job: Job, status: JobStatus) -> None:
        """End ``job`` with ``status`` and take it out of the queue (for the gate; a task is
        queued only once its predecessors ended, so this is not expected to happen)."""
        self._set_job_status(job, status)
        if job.native_id is not None:
            task_id = self._task_id(job.native_id)
            self.pilot.directory.request_cancel(task_id)
            self.pilot.directory.withdraw(task_id)

    def submit_array(self, array: JobArray) -> None:
        """Queue the elements of ``array`` as tasks, `task_batches.BATCH_SIZE` of them to a
        file (`psij.pilot.task_batches`); on return each is QUEUED with its native id
        ``<pilot>/<array>.<index>``. Every element is checked before any is queued."""
        if not isinstance(array, JobArray):
            raise TypeError(f'submit_array() takes a JobArray, not {type(array).__name__}')
        if array.throttle is not None:
            raise InvalidJobException(
                f'JobArray.throttle is {array.throttle}; the pilot executor runs an array\'s '
                'elements as room in its allocations allows (allowed: None; to run fewer at '
                'once, give the pilot fewer allocations or cores)')
        if any(job.dependencies for job in array.jobs):
            super().submit_array(array)  # each element held until its predecessors end
            return
        elements = []
        try:
            for job in array.jobs:
                spec = self._check_job(job)
                elements.append((job, checked_needs(spec, self.pilot_config),
                                 spec_to_dict(spec)))
        except Exception:
            for job in array.jobs:
                job.executor = None
            raise
        pilot = self.pilot
        base = pilot.new_task_id()
        unqueued: Dict[int, str] = {}
        for needs in {needs for _, needs, _ in elements}:
            alike = [(index, spec) for index, (_, asked, spec) in enumerate(elements)
                     if asked == needs]
            try:
                put_batches(pilot.directory, base, needs[0], alike,
                            {'attempt': 1, 'submitted': time.time()}, needs[1])
            except OSError as error:  # the batches written before it run: say which did not
                unqueued.update((index, str(error)) for index, _ in alike
                                if pilot.directory.locate(element_id(base, index)) is None)
        for index, (job, _, _) in enumerate(elements):
            task_id = element_id(base, index)
            job.native_id = f'{self.pilot_config.name}/{task_id}'
            if index in unqueued:
                self._set_job_status(job, JobStatus(
                    JobState.FAILED, message=f'could not be queued: {unqueued[index]}'))
                continue
            self._set_job_status(job, JobStatus(JobState.QUEUED))
            pilot.track(task_id, job)

    def cancel(self, job: Job) -> None:
        """Withdraw a queued task, or have its worker stop it; it ends CANCELED. A task psij
        holds for its predecessors ends CANCELED at once and is never queued."""
        if not self._should_cancel(job) or self._gate.cancel(job):
            return
        with self._sending:
            native_id = job.native_id
        if native_id is None:
            return  # being queued right now: _send sees the cancel and queues nothing
        task_id = self._task_id(native_id)
        self.pilot.directory.request_cancel(task_id)
        self.pilot.directory.withdraw(task_id)
        self.pilot.wake()

    def attach(self, job: Job, native_id: str) -> None:
        """Follow task ``<pilot name>/<task id>`` of this pilot, from any process."""
        self._check_attachable(job)
        task_id = self._task_id(native_id)
        if self.pilot.directory.locate(task_id) is None:
            raise InvalidJobException(f'native_id {native_id!r}: pilot '
                                      f'{self.pilot_config.name!r} has no task {task_id!r}')
        job.executor = self
        job.native_id = native_id
        self._set_job_status(job, JobStatus(JobState.QUEUED))
        self.pilot.track(task_id, job)

    def list(self) -> List[str]:
        """The native ids of the pilot's tasks that wait or run."""
        directory = self.pilot.directory
        ids = [task_id for entry in directory.queued() for task_id in task_ids(entry.task_id)]
        ids += [task_id for _, _, entry in directory.claims()
                for task_id in task_ids(entry.task_id)]
        return [f'{self.pilot_config.name}/{task_id}' for task_id in ids]

    def _task_id(self, native_id: str) -> str:
        name, _, task_id = native_id.partition('/')
        if name != self.pilot_config.name or not task_id or '/' in task_id \
                or '~' in task_id or task_id.startswith('.'):
            raise InvalidJobException(f'native_id {native_id!r} is not a task of pilot '
                                      f'{self.pilot_config.name!r} (expected '
                                      f'{self.pilot_config.name}/<task id>)')
        return task_id
