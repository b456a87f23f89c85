"""A pilot's allocations: submitted through any psij executor, recorded, watched, released.

Each allocation is one job of the providing executor (``slurm``, ``sge``..., or ``local``)
that runs `psij.pilot.worker` once per node. Its record, ``allocations/<key>.json`` (key,
native id, when it was submitted), is written before the submission and completed after it,
so every process that makes the same pilot attaches to every allocation not yet released and
learns of its end from the providing executor: that executor's final state of the job is the
evidence the allocation's workers are gone. Then its unfinished tasks are released
(`PilotDirectory.release`) and ``allocations/<key>.ended`` written.

How many: while tasks wait, allocations are added up to ``max_allocations`` (no more than
there are waiting tasks); none while nothing waits. The count is made under a lock file,
across processes. Allocations end themselves: their workers end after ``idle_timeout``.
"""

import fcntl
import json
import logging
import os
import sys
import threading
import time
from datetime import timedelta
from typing import Any, Callable, Dict, List, Optional, Set, Tuple, Union

from psij.exceptions import InvalidJobException
from psij.job import Job
from psij.job_attributes import JobAttributes
from psij.job_executor import JobExecutor
from psij.job_executor_config import JobExecutorConfig
from psij.job_spec import JobSpec
from psij.job_state import JobState
from psij.job_status import JobStatus
from psij.pilot.config import PilotExecutorConfig
from psij.pilot.gpus import worker_options
from psij.pilot.task_queue import PilotDirectory
from psij.resource_spec import ResourceSpecV1

logger = logging.getLogger('psij.pilot.allocations')

#: A record without a native id (its submitter died while submitting) counts as an
#: allocation for this long, then is taken as never submitted.
UNCONFIRMED_GRACE = 120.0


def worker_arguments(config: PilotExecutorConfig, directory: PilotDirectory,
                     key: str) -> List[str]:
    """The arguments of ``python`` that run one worker of allocation ``key``."""
    arguments = ['-m', 'psij.pilot.worker', '--pilot-directory', str(directory.root),
                 '--allocation', key, '--idle-timeout', f'{config.idle_timeout:g}',
                 '--poll-interval', f'{config.poll_interval:g}',
                 # Exact (not :g): the worker starts no task longer than what is left.
                 '--allocation-duration', repr(config.duration)]
    if config.stream_outputs:
        arguments.append('--stream-outputs')
    for option, value in (('--cores', config.cores_per_node),
                          ('--memory', config.memory_per_node)):
        if value is not None:
            arguments += [option, str(value)]
    arguments += worker_options(config.gpus_per_node)
    return arguments


def allocation_spec(config: PilotExecutorConfig, directory: PilotDirectory,
                    key: str) -> JobSpec:
    """The job that is allocation ``key``: one worker per node, in the configured shape.

    On a batch executor it asks for ``nodes`` nodes of ``cores_per_node`` cores (whole nodes
    when None) with one process per node. With ``executor='local'`` there is one machine:
    the job is ``nodes`` processes of the launcher, each a worker offering
    ``cores_per_node``, which is how a pilot of several nodes is tried on one host.
    """
    if config.executor == 'local':
        # One process per "node"; the launcher takes its count from process_count (the
        # default spec has 1), and a local budget counts one core per worker.
        resources = ResourceSpecV1(process_count=config.nodes)
    else:
        resources = ResourceSpecV1(node_count=config.nodes, processes_per_node=1,
                                   cpu_cores_per_process=config.cores_per_node,
                                   exclusive_node_use=config.cores_per_node is None)
    launcher = worker_launcher(config)
    environment: Dict[str, Union[str, int]] = {}
    if launcher == 'srun':
        # The workers' job step holds the allocation's CPUs and memory: a task that is an
        # srun step of its own would wait for them forever. Overlapping steps leave the
        # placement to the workers, which is the pilot's job anyway.
        environment['SLURM_OVERLAP'] = '1'
    return JobSpec(
        executable=sys.executable, arguments=worker_arguments(config, directory, key),
        name=f'pilot-{config.name}', resources=resources, launcher=launcher,
        environment=environment or None,
        stdout_path=directory.allocations / f'{key}.out',
        stderr_path=directory.allocations / f'{key}.err',
        attributes=JobAttributes(duration=timedelta(seconds=config.duration),
                                 queue_name=config.queue_name, account=config.account))


def worker_launcher(config: PilotExecutorConfig) -> str:
    """The launcher that starts an allocation's workers: the configured one, else the
    allocation's job itself is the worker on one node (``single``), and on more ``srun``
    on Slurm, ``mpirun`` elsewhere."""
    if config.worker_launcher is not None:
        return config.worker_launcher
    if config.nodes == 1:
        return 'single'
    return 'srun' if config.executor == 'slurm' else 'mpirun'


def provider_for(config: PilotExecutorConfig) -> JobExecutor:
    """The executor that submits this pilot's allocations."""
    provider_config = config.provider_config
    if provider_config is None:
        if config.executor == 'local':
            provider_config = JobExecutorConfig(work_directory=config.work_directory)
        else:
            from psij.batch import BatchSchedulerExecutorConfig
            provider_config = BatchSchedulerExecutorConfig(
                work_directory=config.work_directory)
    return JobExecutor.get_instance(config.executor, url=config.url, config=provider_config)


class Allocations:
    """The allocations of one pilot, as one process sees and manages them."""

    def __init__(self, config: PilotExecutorConfig, directory: PilotDirectory,
                 wake: Callable[[], None]) -> None:
        self.config = config
        self.directory = directory
        self._wake = wake
        self._provider: Optional[JobExecutor] = None
        self._watched: Dict[str, Job] = {}
        self._ended: List[Tuple[str, JobStatus]] = []
        self._pending: List[Tuple[str, JobStatus, float]] = []
        # Allocations the providing executor cannot follow (see watch_all).
        self._unfollowed: Set[str] = set()
        self._lock = threading.Lock()
        self._counter = 0
        self.submissions = 0

    @property
    def provider(self) -> JobExecutor:
        """The providing executor (made on first use)."""
        if self._provider is None:
            self._provider = provider_for(self.config)
        return self._provider

    # --- records -------------------------------------------------------------------------

    def records(self) -> Dict[str, Dict[str, Any]]:
        """Every allocation record of the pilot, by key, with ``ended`` added (the end's
        record, or None)."""
        found: Dict[str, Dict[str, Any]] = {}
        try:
            names = os.listdir(self.directory.allocations)
        except FileNotFoundError:
            return found
        for name in names:
            if not name.endswith('.json') or name.startswith('.'):
                continue
            key = name[:-len('.json')]
            record = _read_json(self.directory.allocations / name)
            if record is None:
                continue
            record['ended'] = _read_json(self.directory.allocations / f'{key}.ended')
            found[key] = record
        return found

    def _live(self, records: Dict[str, Dict[str, Any]]) -> List[str]:
        now = time.time()
        return [key for key, record in records.items() if record['ended'] is None and (
            record.get('native_id') is not None
            or now - float(record.get('submitted', 0)) < UNCONFIRMED_GRACE)]

    # --- demand --------------------------------------------------------------------------

    def add_as_needed(self, waiting: int, longest: int = 0) -> None:
        """Submit allocations while tasks wait, up to ``max_allocations`` and no more than
        ``waiting``; the count covers every process's allocations (under a lock file). If
        a waiting task says it needs ``longest`` seconds and no live allocation has that long
        left (`_has_time_for`), one more may be submitted for it, within the maximum."""
        if waiting <= 0:
            return
        with open(self.directory.root / 'allocations.lock', 'a') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                live = self._live(self.records())
                wanted = min(self.config.max_allocations, waiting)
                if longest and live and len(live) >= wanted \
                        and not any(self._has_time_for(key, longest) for key in live):
                    wanted = min(self.config.max_allocations, len(live) + 1)
                for _ in range(wanted - len(live)):
                    self._submit_one()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _has_time_for(self, key: str, seconds: int) -> bool:
        """Whether allocation ``key`` may start a task of ``seconds``: it has not started
        yet (it gets its whole duration), or a worker of it knows an end that far away (one
        that does not know its end counts its whole duration from its start)."""
        workers = list((self.directory.root / 'workers' / key).glob('*.json'))
        if not workers:
            return True
        now = time.time()
        for path in workers:
            record = _read_json(path) or {}
            ends = record.get('ends')
            if not isinstance(ends, (int, float)):
                ends = float(record.get('started', now)) + self.config.duration
            if ends - now >= seconds:
                return True
        return False

    def _submit_one(self) -> None:
        self._counter += 1
        key = f'{time.strftime("%Y%m%d%H%M%S")}-{os.getpid()}-{self._counter}'
        record: Dict[str, Any] = {'key': key, 'executor': self.config.executor,
                                  'url': self.config.url, 'native_id': None,
                                  'submitted': time.time()}
        path = self.directory.allocations / f'{key}.json'
        _write_json(path, record)
        job = Job(allocation_spec(self.config, self.directory, key))
        job._on_final(self._end_listener(key))
        try:
            self.provider.submit(job)
        except Exception as error:
            logger.error('pilot %s: allocation %s was not submitted: %s', self.config.name,
                         key, error)
            _write_json(self.directory.allocations / f'{key}.ended',
                        {'state': 'FAILED', 'message': f'not submitted: {error}'})
            raise
        record['native_id'] = job.native_id
        _write_json(path, record)
        self.submissions += 1
        with self._lock:
            self._watched[key] = job
        logger.info('pilot %s: allocation %s submitted (%s %s)', self.config.name, key,
                    self.config.executor, job.native_id)

    # --- watching and release -------------------------------------------------------------

    def watch_all(self) -> None:
        """Attach to every recorded allocation not yet released and not watched here."""
        for key, record in self.records().items():
            if record['ended'] is not None and (self.directory.claimed / key).is_dir():
                # Its end was recorded, its release not finished (that process died).
                self.directory.release(key, self.config.max_attempts,
                                       str(record['ended'].get('reason', 'it ended')))
                continue
            native_id = record.get('native_id')
            if native_id is None and record['ended'] is None:
                native_id = self._confirm(key, record)
            with self._lock:
                if (record['ended'] is not None or key in self._watched or native_id is None
                        or key in self._unfollowed):
                    continue
                job = Job()
                self._watched[key] = job
            job._on_final(self._end_listener(key))
            try:
                self.provider.attach(job, str(native_id))
            except InvalidJobException as error:
                self._unfollow(key, native_id, error)

    def _unfollow(self, key: str, native_id: object, error: Exception) -> None:
        """The providing executor cannot follow allocation ``key`` (a local job whose
        submitter was killed before its journal named it): its end is then its workers'
        exit, so it is released like an ended allocation once they all recorded theirs (or
        after `release_grace`), and its tasks run again elsewhere."""
        logger.warning('pilot %s: allocation %s (%s job %s) cannot be followed: %s; it is '
                       'released once its workers exited', self.config.name, key,
                       self.config.executor, native_id, error)
        status = JobStatus(JobState.FAILED, message=f'{self.config.executor} cannot follow '
                                                    f'it: {error}')
        with self._lock:
            self._watched.pop(key, None)
            self._unfollowed.add(key)
            self._ended.append((key, status))
        self._wake()

    def _confirm(self, key: str, record: Dict[str, Any]) -> Optional[str]:
        """The native id of an allocation whose submitter died before recording it: the
        one its workers recorded; if none did within `UNCONFIRMED_GRACE`, the allocation is
        recorded ended (a worker that starts later sees that and claims nothing)."""
        workers = self.directory.root / 'workers' / key
        for name in sorted(os.listdir(workers)) if workers.is_dir() else []:
            worker = _read_json(workers / name) if name.endswith('.json') else None
            if worker is not None and worker.get('job_id'):
                record['native_id'] = str(worker['job_id'])
                # The record as stored: without the 'ended' that records() adds.
                _write_json(self.directory.allocations / f'{key}.json',
                            {name: value for name, value in record.items()
                             if name != 'ended'})
                return record['native_id']  # type: ignore[no-any-return]
        if time.time() - float(record.get('submitted', 0)) >= UNCONFIRMED_GRACE:
            _write_json(self.directory.allocations / f'{key}.ended', {
                'state': 'FAILED', 'exit_code': None, 'time': time.time(),
                'message': 'its submission was never confirmed (the submitting process '
                           'ended) and no worker of it started'})
        return None

    def _end_listener(self, key: str) -> Callable[[Job, JobStatus], None]:
        def ended(_job: Job, status: JobStatus) -> None:
            with self._lock:
                self._ended.append((key, status))
            self._wake()
        return ended

    def release_ended(self) -> Tuple[List[str], List[str]]:
        """Release the allocations that ended and whose workers are gone; returns the ids of
        the tasks queued again and of those failed for lack of attempts.

        The providing executor's final state alone is not enough: Slurm reports a canceled
        job CANCELLED while its processes are still being killed. So an allocation is
        released once every worker that started in it recorded its exit (after its tasks
        ended), or `release_grace` after its end was learned (a node that failed takes its
        workers with it, unrecorded).
        """
        now = time.monotonic()
        with self._lock:
            self._pending += [(key, status, now) for key, status in self._ended]
            self._ended = []
            pending, self._pending = self._pending, []
        requeued: List[str] = []
        failed: List[str] = []
        for key, status, learned in pending:
            if not self._workers_gone(key) and now - learned < self.config.release_grace:
                with self._lock:
                    self._pending.append((key, status, learned))
                continue
            job = self._watched.get(key)
            native_id = job.native_id if job is not None else None
            reason = f'allocation {key} ({self.config.executor} job {native_id}) ended ' \
                f'{status.state.value}' + (f': {status.message}' if status.message else '')
            # Recorded first: a worker that would only start now claims nothing.
            _write_json(self.directory.allocations / f'{key}.ended',
                        {'state': status.state.value, 'message': status.message,
                         'exit_code': status.exit_code, 'time': status.time,
                         'reason': reason})
            again, lost = self.directory.release(key, self.config.max_attempts, reason)
            requeued += again
            failed += lost
            if again or lost:
                logger.warning('pilot %s: %s; %d task(s) queued again, %d failed',
                               self.config.name, reason, len(again), len(lost))
        return requeued, failed

    def _workers_gone(self, key: str) -> bool:
        """True if every worker that started in allocation ``key`` recorded its exit."""
        directory = self.directory.root / 'workers' / key
        try:
            names = set(os.listdir(directory))
        except FileNotFoundError:
            return True
        return all(f'{name[:-len(".json")]}.exited' in names
                   for name in names if name.endswith('.json'))

    def jobs(self) -> Dict[str, Job]:
        """The providing executor's job of each allocation watched here, by key."""
        with self._lock:
            return dict(self._watched)

    def watching(self) -> bool:
        """True while an allocation watched here has not ended or not been released."""
        with self._lock:
            return bool(self._ended or self._pending) or any(not job.status.state.final
                                            for job in self._watched.values())

    def cancel_all(self) -> None:
        """Cancel every allocation watched here (their tasks are released as they end)."""
        with self._lock:
            jobs = list(self._watched.values())
        for job in jobs:
            if not job.status.state.final:
                job.cancel()


def _write_json(path: 'os.PathLike[str]', document: Dict[str, Any]) -> None:
    temporary = f'{os.fspath(path)}.{os.getpid()}.tmp'
    with open(temporary, 'w') as stream:
        json.dump(document, stream)
    os.replace(temporary, path)


def _read_json(path: 'os.PathLike[str]') -> Optional[Dict[str, Any]]:
    try:
        with open(path) as stream:
            document: Dict[str, Any] = json.load(stream)
    except (FileNotFoundError, ValueError):
        return None
    return document
