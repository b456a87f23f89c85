"""One pilot worker: runs queued tasks on its node until it has been idle for a while.

``python -m psij.pilot.worker --pilot-directory DIR --allocation KEY ...`` is what an
allocation's job runs, once per node. The worker claims tasks from ``DIR/queue`` (a rename into
its own directory, see `psij.pilot.task_queue`), as many as fit the node's free cores, GPUs and
memory (`psij.pilot.placement`), and runs each: a one-process task directly
(`psij.pilot.task_process`: one ``Popen``, reaped by this loop, woken by its pidfd), any other
(a launcher, staging, pre/post-launch scripts) with psij's local executor. Outcomes are
appended to the worker's log (`psij.pilot.outcomes`), those of one turn of the loop with one
write, before their claims are removed. It ends when it has had nothing to run and found
nothing queued that it could run for ``--idle-timeout`` seconds.

A task that says how long it runs (its ``JobAttributes.duration``) is started only if the
allocation has that long left (``--allocation-duration``, `psij.pilot.worker_allocation`);
else it stays queued for a newer allocation, and this worker takes it as not there.

A worker told to stop (SIGTERM, SIGINT: the allocation is being canceled or reached its time
limit) stops its tasks and writes no outcome for them: the process that sees the allocation
end puts them back in the queue. A task that ended by a signal is reported after
`SIGNAL_GRACE` seconds, unless the worker was told to stop meanwhile: the signal that ends an
allocation often reaches the tasks before the worker.
"""

import collections
import json
import logging
import os
import pathlib
import selectors
import shutil
import signal
import socket
import sys
import tempfile
import time
from datetime import timedelta
from typing import Any, Deque, Dict, List, Optional, Sequence, Tuple

from psij.job import Job
from psij.job_executor import JobExecutor
from psij.job_executor_config import JobExecutorConfig
from psij.job_state import JobState
from psij.job_status import JobStatus
from psij.pilot.gpus import Devices, devices_of
from psij.pilot.output_stream import StreamWriter
from psij.pilot.placement import Placer, needs_of
from psij.pilot.running_task import RunningTask, direct_outcome, job_outcome
from psij.pilot.task_batches import batch_range
from psij.pilot.task_process import Starter, direct_start_possible
from psij.pilot.task_queue import PilotDirectory, QueueEntry
from psij.pilot.worker_allocation import allocation_end, allocation_job_id, monotonic_deadline
from psij.pilot.worker_batches import WorkerBatches, time_needed
from psij.pilot.worker_command import forget_open_mpi_runtime, node_capacity, parse_worker_arguments
from psij.private_directories import make_private_directory
from psij.resource_packing import Resources
from psij.serialize import spec_from_dict

logger = logging.getLogger('psij.pilot.worker')

#: Seconds a task that died of a signal waits before its outcome is written.
SIGNAL_GRACE = 2.0
#: The longest a worker with free room goes without listing the queue again.
RELIST_INTERVAL = 1.0
#: Seconds a stopped worker waits for its canceled tasks to end (the local executor sends
#: SIGKILL 2 s after SIGTERM).
STOP_WAIT = 5.0
#: How many of the oldest waiting tasks one placement looks at (backfill reaches this far).
LOOKAHEAD = 64


class Worker:
    """The worker's loop; `run` returns when the worker has been idle long enough or was
    told to stop."""

    def __init__(self, directory: PilotDirectory, allocation: str, name: str,
                 capacity: Resources, idle_timeout: float, poll_interval: float,
                 stream_outputs: bool = False, gpus: Sequence[str] = (),
                 ends: float = float('inf')) -> None:
        self.directory = directory
        # When the allocation ends (seconds since the epoch; inf: not known), and the same
        # on the loop's clock: a task's duration is compared with what is left of it.
        self.allocation_ends = ends
        self.deadline = monotonic_deadline(ends)
        #: What the allocation had left when this worker started: a task that says it runs
        #: longer can never run in this pilot (its allocations all have one duration).
        self.full_time = self.deadline - time.monotonic()
        if gpus and len(gpus) != capacity.gpus:
            raise ValueError(f'{capacity.gpus} GPUs in the capacity, {len(gpus)} devices named')
        self.devices = Devices(gpus)
        self.allocation = allocation
        self.name = name
        self.free = capacity
        self.placer = Placer(capacity)
        self.idle_timeout = idle_timeout
        self.poll_interval = poll_interval
        self.claims = directory.worker_directory(allocation, name)
        self.ended_marker = directory.allocations / f'{allocation}.ended'
        self.results = directory.result_log(allocation, name)
        self.streams: Optional[StreamWriter] = None
        if stream_outputs:
            self.streams = StreamWriter(directory.root / 'outputs', allocation, name)
            # Node-local: the point is to spare the shared file system a file per task.
            self.scratch = pathlib.Path(tempfile.mkdtemp(prefix=f'psij-pilot-{name}-'))
        self.work = directory.root / 'workers' / allocation / name
        make_private_directory(self.work)
        self.nodefile = self.work / 'nodefile'
        self.nodefile.write_text(socket.gethostname() + '\n')
        self._executor: Optional[JobExecutor] = None
        self.starter = Starter()
        self.running: Dict[str, RunningTask] = {}
        self.by_native_id: Dict[str, str] = {}
        self.ended: Deque[Tuple[str, JobStatus]] = collections.deque()
        self.held: List[Tuple[float, str, Dict[str, Any]]] = []
        self.pending: List[Tuple[str, pathlib.Path, Dict[str, Any]]] = []
        self.batches = WorkerBatches()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self._wake_read, selectors.EVENT_READ)
        self.stopping = False
        self.stopped_by = 0
        self._cancels_looked_at = self._marker_looked_at = -float('inf')
        self._ended = False
        self.started_tasks = 0
        self.busy_core_seconds = 0.0
        self._write_record(capacity)

    @property
    def executor(self) -> JobExecutor:
        """The local executor, for the tasks not started directly (made on first use)."""
        if self._executor is None:
            from psij.executors.local import LocalJobExecutor
            self._executor = LocalJobExecutor(config=JobExecutorConfig(work_directory=self.work))
            self._executor.set_job_status_callback(self._on_status)
        return self._executor

    def _write_record(self, capacity: Resources) -> None:
        record = {'allocation': self.allocation, 'worker': self.name, 'pid': os.getpid(),
                  'job_id': allocation_job_id(),
                  'host': socket.gethostname(), 'started': time.time(),
                  'cores': capacity.cores, 'gpus': capacity.gpus, 'memory': capacity.memory,
                  'ends': self.allocation_ends if self.allocation_ends < float('inf') else None}
        path = self.directory.root / 'workers' / self.allocation / f'{self.name}.json'
        path.write_text(json.dumps(record))

    def wake(self) -> None:
        """End the loop's current wait (from any thread, or a signal handler)."""
        try:
            os.write(self._wake_write, b'.')
        except BlockingIOError:
            pass  # a wake is pending already

    def _wait(self, timeout: float) -> None:
        self.selector.select(timeout)
        try:
            while os.read(self._wake_read, 4096):
                pass
        except BlockingIOError:
            pass

    def stop(self, signum: int = signal.SIGTERM, *_: Any) -> None:
        """Stop claiming, stop the tasks, leave their claims for the release; `run` then
        returns 128 + ``signum``, as a process killed by that signal would."""
        self.stopped_by = signum
        self.stopping = True
        self.wake()

    def _on_status(self, job: Job, status: JobStatus) -> None:
        if status.state.final:
            self.ended.append((job.native_id or '', status))
            self.wake()

    def run(self) -> int:
        """Claim and run tasks until idle for ``idle_timeout`` or stopped; the exit code."""
        queue: Deque[QueueEntry] = collections.deque()
        listed = 0.0
        idle_since = time.monotonic()
        while not self.stopping:
            self._collect_ended()
            self._apply_cancels()
            now = time.monotonic()
            if self._has_room() and (not queue or now - listed > RELIST_INTERVAL):
                queue = self._listing(now)
                listed = now
            started = self._start_some(queue, now) \
                if (queue or self.batches.waiting) and self._has_room() else 0
            self._flush_outcomes()
            # Waiting tasks that do not fit now keep it busy only while it runs others.
            if self.running or self.held or self.batches.waiting or started:
                idle_since = now
            elif now - idle_since >= self.idle_timeout:
                logger.info('worker %s idle for %.0f s: ending', self.name, self.idle_timeout)
                self._record_exit(0)
                return 0
            if not started:
                self._wait(self.poll_interval)
        self._stop_tasks()
        return 128 + self.stopped_by

    def _stop_tasks(self) -> None:
        # The release puts these back in the queue (no outcome is written), but only after
        # this allocation ended: wait for them to be gone, so that "ended" means it.
        self._flush_outcomes()
        tasks = list(self.running.values())
        for task in tasks:
            task.stop()
        deadline = time.monotonic() + STOP_WAIT
        left = list(tasks)
        while left and time.monotonic() < deadline:
            for task in list(left):
                if task.process is not None:
                    task.process.tick(time.monotonic())
                    code = task.process.poll()
                    if code is None:
                        continue
                    status: Optional[Dict[str, Any]] = direct_outcome(task.process, code)
                else:
                    assert task.job is not None
                    if not task.job.status.state.final:
                        continue
                    status = job_outcome(task.job.status)
                left.remove(task)
                if status is not None and status['state'] == JobState.COMPLETED.value:
                    # It finished on its own before the stop took: a result, not a rerun.
                    self._flush_streams(task)
                    self._write(task.entry.task_id, task.attempt, task.path,
                                dict(status, started=task.started))
            if left:
                self._wait(0.02)
        self._flush_outcomes()
        if left:
            logger.warning('worker %s: %d task(s) still running after %.0f s: exit not '
                           'recorded (the release waits its grace time)', self.name,
                           len(left), STOP_WAIT)
        else:
            self._record_exit(128 + self.stopped_by)

    def _stream_paths(self, spec: Dict[str, Any], task_id: str) -> Dict[str, pathlib.Path]:
        """With streaming on, point the unset output paths of the stored ``spec`` at
        node-local files; returns them by stream name."""
        if self.streams is None:
            return {}
        streamed: Dict[str, pathlib.Path] = {}
        for stream, field, suffix in (('stdout', 'stdout_path', 'out'),
                                      ('stderr', 'stderr_path', 'err')):
            if spec.get(field) is None:
                streamed[stream] = self.scratch / f'{task_id}.{suffix}'
                spec[field] = str(streamed[stream])
        return streamed

    def _flush_streams(self, task: RunningTask) -> None:
        if self.streams is None:
            return
        for stream, path in task.streamed.items():
            self.streams.append(task.entry.task_id, task.attempt, stream, path)
            path.unlink(missing_ok=True)

    def _record_exit(self, code: int) -> None:
        """Say that this worker and every task it started are gone (see
        `psij.pilot.allocations`: the release of its claims waits for it)."""
        self.results.close()
        if self.streams is not None:
            self.streams.close()
            shutil.rmtree(self.scratch, ignore_errors=True)
        path = self.directory.root / 'workers' / self.allocation / f'{self.name}.exited'
        times = os.times()
        path.write_text(json.dumps({'exit_code': code, 'time': time.time(),
                                    'tasks': self.started_tasks,
                                    'cpu_s': times.user + times.system}))

    def _has_room(self) -> bool:
        return self.free.cores > 0

    def _listing(self, now: float) -> Deque[QueueEntry]:
        """The waiting tasks, oldest first, but those that say they need longer than this
        allocation has left: they stay queued for a newer allocation (the time left only
        shrinks, so this worker never takes them). One comparison per task listed. One
        that needs more than an allocation has when its worker starts is FAILED: no
        allocation of the pilot could run it (submit refuses most of them)."""
        left = self.deadline - now
        entries = self.directory.queued()
        kept = collections.deque(entry for entry in entries if entry.duration <= left)
        if len(kept) != len(entries):
            for entry in entries:
                if entry.duration > self.full_time:
                    self._refuse(entry, self._too_long(entry))
        return kept

    def _too_long(self, entry: QueueEntry) -> str:
        return (f'it says it runs {timedelta(seconds=entry.duration)} (JobAttributes.duration); '
                f'an allocation has {timedelta(seconds=int(self.full_time))} left when its '
                'worker starts (PilotExecutorConfig.duration)')

    def _start_some(self, queue: Deque[QueueEntry], now: float) -> int:
        """Start what fits of the oldest `LOOKAHEAD` entries of ``queue``, and take out of
        it what was taken (by us or by others); how many this worker started."""
        if time.monotonic() - self._marker_looked_at >= self.poll_interval:
            self._marker_looked_at = time.monotonic()
            self._ended = self.ended_marker.exists()
        if self._ended:
            # Taken as never started (see psij.pilot.allocations): claim nothing, end.
            logger.warning('allocation %s is recorded as ended: worker %s ends',
                           self.allocation, self.name)
            self.stopping = True
            queue.clear()
            return 0
        started = self._start_batch_elements()
        if self.batches.waiting:
            return started  # no more claims before these started: other workers take them
        window = [queue.popleft() for _ in range(min(LOOKAHEAD, len(queue)))]
        gone = set()
        left = self.deadline - now
        for entry in self.placer.choose(window, self.free):
            gone.add(entry.file_name)
            if time_needed(entry, self.placer.total) > left:
                continue  # listed in time, too long now: left queued, as in _listing
            path = self.directory.claim(entry, self.claims)
            if path is None:
                continue
            if batch_range(entry.task_id) is not None:
                self._take_batch(entry, path)
                started += self._start_batch_elements()
            else:
                self._start(entry, path)
                started += 1
        for entry, why in self.placer.refused:
            gone.add(entry.file_name)
            self._refuse(entry, f'it {why} on each worker (PilotExecutorConfig.cores_per_node, '
                                'gpus_per_node, memory_per_node)')
        queue.extendleft(reversed([entry for entry in window if entry.file_name not in gone]))
        return started

    def _refuse(self, entry: QueueEntry, why: str) -> None:
        """End a task (or each element of a batch) no worker of this pilot could ever run
        FAILED, saying ``why``."""
        path = self.directory.claim(entry, self.claims)
        if path is not None:
            for task in self.batches.documents(self.directory, entry, path):
                self._write(task['id'], int(task.get('attempt', 1)), path, {
                    'state': 'FAILED', 'exit_code': None,
                    'message': f'the task can never run in this pilot: {why}'})

    def _take_batch(self, entry: QueueEntry, path: pathlib.Path) -> None:
        """Hold the elements of a claimed batch to start as room allows; a canceled one is
        recorded CANCELED without starting."""
        elements = self.batches.documents(self.directory, entry, path)
        for task in self.batches.hold(entry, path, elements, self.directory.cancel_requests()):
            self._write(task['id'], int(task['attempt']), path, {
                'state': 'CANCELED', 'exit_code': None, 'message': 'canceled before it started'})

    def _start_batch_elements(self) -> int:
        """Start the held batch elements that fit now, oldest first; how many."""
        started = 0
        held = self.batches.next_fitting(self.free)
        while held is not None:
            self._start(*held)
            started += 1
            held = self.batches.next_fitting(self.free)
        return started

    def _start(self, entry: QueueEntry, path: pathlib.Path,
               document: Optional[Dict[str, Any]] = None) -> None:
        if document is None:
            document = self.directory.read_task(path)
        attempt = int(document.get('attempt', 1))
        task = RunningTask(entry, path, attempt, {})
        try:
            stored: Dict[str, Any] = document['spec']
            task.streamed = self._stream_paths(stored, entry.task_id)
            extra = {'PSIJ_PILOT_TASK_ID': entry.task_id, 'PSIJ_PILOT_ATTEMPT': str(attempt)}
            task.gpus = self.devices.take(entry.request.gpus)
            extra.update(self.devices.environment(task.gpus))
            if direct_start_possible(stored):
                extra['PSIJ_NODEFILE'] = str(self.nodefile)
                task.process = self.starter.start(stored, extra)
                if task.process.pidfd is not None:
                    self.selector.register(task.process.pidfd, selectors.EVENT_READ)
            else:
                spec = spec_from_dict(stored)
                spec.environment = dict(spec.environment or {}, **extra)
                task.job = Job(spec)
                self.executor.submit(task.job)
                self.by_native_id[task.job.native_id or ''] = entry.task_id
        except Exception as error:  # a bad spec fails this task, not the worker
            self.devices.give_back(task.gpus)
            self._write(entry.task_id, attempt, path, {
                'state': 'FAILED', 'exit_code': None,
                'message': f'the worker could not start the task: {error}'})
            return
        self.running[entry.task_id] = task
        self.free = self.free.minus(needs_of(entry.request))
        self.started_tasks += 1

    def _collect_ended(self) -> None:
        now = time.monotonic()
        ended: List[Tuple[str, Dict[str, Any]]] = []
        held = {item[1] for item in self.held}
        for task_id, task in self.running.items():
            if task.process is None or task_id in held:
                continue  # (a held one ended already: its outcome waits for SIGNAL_GRACE)
            task.process.tick(now)
            if task.process.pidfd is not None:
                fd = task.process.pidfd
                code = task.process.poll()
                if code is not None:
                    self.selector.unregister(fd)
            else:
                code = task.process.poll()
            if code is not None:
                ended.append((task_id, direct_outcome(task.process, code)))
        while self.ended:
            native_id, status = self.ended.popleft()
            task_id = self.by_native_id.pop(native_id, '')
            if task_id in self.running:
                ended.append((task_id, job_outcome(status)))
        for task_id, outcome in ended:
            code = outcome['exit_code']
            died_of_signal = code is not None and (code < 0 or code > 128)
            if (died_of_signal and outcome['state'] != JobState.CANCELED.value
                    and task_id not in self.directory.cancel_requests()):
                self.held.append((now + SIGNAL_GRACE, task_id, outcome))
            else:
                self._finish(task_id, outcome)
        for item in [item for item in self.held if item[0] <= now]:
            self.held.remove(item)
            self._finish(item[1], item[2])

    def _finish(self, task_id: str, outcome: Dict[str, Any]) -> None:
        if self.stopping:
            return
        task = self.running.pop(task_id)
        self.free = self.free.plus(needs_of(task.entry.request))
        self.devices.give_back(task.gpus)
        self.busy_core_seconds += (time.time() - task.started) * task.entry.request.cores
        self._flush_streams(task)
        self._write(task_id, task.attempt, task.path, dict(outcome, started=task.started))

    def _write(self, task_id: str, attempt: int, path: pathlib.Path,
               result: Dict[str, Any]) -> None:
        """Queue an outcome for the next `_flush_outcomes`."""
        result.update(attempt=attempt, allocation=self.allocation, worker=self.name)
        result.setdefault('time', time.time())
        self.pending.append((task_id, path, result))

    def _flush_outcomes(self) -> None:
        """Append the pending outcomes with one write, then remove their claims (a claim
        without an outcome is queued again when the allocation ends)."""
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        self.results.append_many([(task_id, result) for task_id, _, result in pending])
        for _, path, _ in pending:
            if self.batches.outcome_written(path):
                os.unlink(path)

    def _apply_cancels(self) -> None:
        # A listing of cancel/ per poll interval, not per turn of the loop (one per task).
        if not self.running or time.monotonic() - self._cancels_looked_at < self.poll_interval:
            return
        self._cancels_looked_at = time.monotonic()
        wanted = self.directory.cancel_requests()
        if not wanted:
            return
        for task in self.running.values():
            if task.entry.task_id in wanted:
                task.stop()


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The worker's command line; its exit code."""
    started = time.time()  # the allocation's clock started before: see worker_allocation
    arguments = parse_worker_arguments(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(name)s %(message)s')
    rank = os.environ.get('PSIJ_RANK', '0')
    forget_open_mpi_runtime(os.environ)  # or a task's own Open MPI mpirun refuses to run
    name = f'{socket.gethostname()}.{rank}.{os.getpid()}'
    gpus = devices_of(arguments.gpus, arguments.gpu_devices)
    worker = Worker(PilotDirectory(arguments.pilot_directory), arguments.allocation, name,
                    node_capacity(arguments.cores, len(gpus), arguments.memory),
                    arguments.idle_timeout, arguments.poll_interval,
                    arguments.stream_outputs, gpus,
                    allocation_end(arguments.allocation_duration, started))
    signal.signal(signal.SIGTERM, worker.stop)
    signal.signal(signal.SIGINT, worker.stop)
    return worker.run()


if __name__ == '__main__':
    sys.exit(main())
