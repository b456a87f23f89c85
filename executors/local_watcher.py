"""The detached watcher: a process that owns local jobs until they end, whoever submitted them.

The local executor learns a job's exit code by reaping it, which only the process that started
it can do; if that process ends first, the outcome is lost and an attached job ends FAILED
"outcome unknown"; a job it held (``max_in_flight``) would never start. A detached local
executor (``LocalJobExecutorConfig(detached=True)``; ``psij submit -e local`` uses one) does not
start its jobs itself: it hands them to a watcher, which starts them, holds those that must
wait, and stays until every job has ended and its exit code is recorded in the work directory,
for `attach` (and ``psij status``/``wait``) in any process.

One watcher serves every detached executor of a user, machine and work directory while it runs
(one Python process per job would cost ~25 MB each): a client first offers its job on the
watcher's socket (`psij.executors.local_watcher_protocol.socket_path`), and starts a new
watcher only when none answers. Inside, the watcher runs ordinary local executors, one per
distinct config a client sent (its ``max_in_flight``), so jobs sent with the same config share
one queue, whichever process sent them, and a held job starts when its turn comes even if its
submitter has exited. A new watcher is started as ``python -m psij.executors.local_watcher``
in a new session, so that the terminal's Ctrl-C and hang-up do not reach it, and forks once
more, so that it belongs to init (or the nearest subreaper) rather than to its client. It
takes the socket first (a client that comes meanwhile waits in its backlog, so that two
watchers never split one queue), or, if a live watcher already holds it, hands its job to that
one and exits. It then submits the job it was started for (the request on its stdin), replies
on its stdout and points stdout at /dev/null (so that the client, and whoever captures its
output, see the end of it). It leaves `LINGER` seconds after its last job ended, giving up the
socket first.

An array (``submit_array``) is submitted whole to one of those executors, which keeps its
throttle as for any local array; a job's ``depends_on`` names jobs of this watcher, which the
same executors wait for (`psij.executors.local_watcher_dependencies`).

Each job runs in the environment and directory of the process that sent it
(`psij.executors.local_watcher_protocol.as_submitted_from`); other process attributes (umask,
limits) are the watcher's. If the watcher is killed, its jobs keep running but their outcome
is unknown, as the local executor documents, and the jobs it held never start (an attached
one ends FAILED, saying so).
"""

import contextlib
import fcntl
import json
import os
import pathlib
import socket
import sys
import threading
import time
from typing import Any, Dict, Iterator, Optional

from psij.executors.local import LocalJobExecutorConfig
from psij.executors.local_held_records import HELD_ID, HeldRecord, HeldRecords
from psij.executors.local_records import process_start_ticks
from psij.executors.local_watcher_client import offer_to_running_watcher
from psij.executors.local_watcher_dependencies import depend, resolve_dependencies
from psij.executors.local_watcher_protocol import (
    CONFIG_KEYS,
    HELLO,
    OPS,
    as_submitted_from,
    lock_path,
    socket_address,
    socket_path,
)

from psij import serialize
from psij.exceptions import InvalidJobException, SubmitException
from psij.job import Job
from psij.job_array import JobArray
from psij.job_executor import JobExecutor
from psij.job_spec import JobSpec
from psij.job_state import JobState
from psij.job_status import JobStatus
from psij.plugins import PluginLoadError

#: Seconds the watcher stays after its last job ended, for the next client.
LINGER = 5.0
#: How long a client may take to send its request once connected.
REQUEST_TIMEOUT = 10.0
#: How often the serving loop looks whether it is time to leave.
ACCEPT_TICK = 0.5


class _Watcher:
    """The jobs of one watcher process, all of one executor name and work directory."""

    def __init__(self, executor_name: str, work_directory: str) -> None:
        self.executor_name = executor_name
        self.work_directory = work_directory
        self._executors: Dict[str, JobExecutor] = {}
        # One made at once, so that a bad plugin name fails the first request.
        self._executor({})
        self.held = HeldRecords(pathlib.Path(work_directory) / 'local')
        #: The jobs that have not ended (by job id).
        self.jobs: Dict[str, Job] = {}
        #: Every job this watcher took, ended or not: predecessors of later jobs.
        self.known: Dict[str, Job] = {}
        self.idle_since = time.monotonic()

    def _executor(self, config: Dict[str, Any]) -> JobExecutor:
        """The executor of this watcher for the settings ``config`` (made on first use)."""
        key = json.dumps(config, sort_keys=True)
        executor = self._executors.get(key)
        if executor is None:
            unknown = set(config) - set(CONFIG_KEYS)
            if unknown:
                raise InvalidJobException(
                    f'detached local executor setting(s) {sorted(unknown)} are not known to '
                    f'the watcher; known: {list(CONFIG_KEYS)}')
            executor = JobExecutor.get_instance(
                self.executor_name, config=LocalJobExecutorConfig(
                    work_directory=self.work_directory, **config))
            self._executors[key] = executor
        return executor

    def handle(self, request: object) -> Dict[str, Any]:
        """The reply to ``request`` (see the protocol)."""
        if not isinstance(request, dict):
            return _error_reply('internal', f'a request must be a JSON object, not '
                                            f'{type(request).__name__}')
        op = request.get('op', 'submit')
        if op == 'cancel':
            job = self.jobs.get(str(request.get('job_id')))
            if job is not None:
                job.cancel()
            return {'found': job is not None}
        if op not in OPS:
            return _error_reply('internal', f'request "op" {op!r} is not known to this '
                                            f'watcher; allowed: {", ".join(OPS)}')
        return self.submit(request)

    def submit(self, request: Dict[str, Any]) -> Dict[str, Any]:
        """Submit the requested job or array; the reply to send (see the protocol)."""
        try:
            if request.get('executor') != self.executor_name or \
                    request.get('work_directory') != self.work_directory:
                raise _WatcherError('request for another executor or work directory than '
                                    'this watcher serves')
            executor = self._executor(dict(request.get('config') or {}))
            array = self._array(request) if request.get('op') == 'submit_array' else None
            jobs = array.jobs if array is not None else [self._job(request, request)]
            # The client's ids, so that the journal, the held records and the client's Jobs
            # all name the jobs alike; a second submission of one would run it twice.
            twice = [job.id for job in jobs if job.id in self.known]
            if twice:
                raise InvalidJobException(f'job {twice[0]} was submitted to this watcher '
                                          'already')
            held = [_HeldJob(self.held, job, os.getpid()) for job in jobs]
            for job, one in zip(jobs, held):
                job.set_job_status_callback(one.status_changed)
            if array is not None:
                executor.submit_array(array)
            else:
                executor.submit(jobs[0])
        except _WatcherError as error:
            return _error_reply('internal', str(error))
        except serialize.SpecFormatError as error:
            return _error_reply('invalid_job', error.message)
        except (InvalidJobException, ValueError, TypeError) as error:
            return _error_reply('invalid_job', str(getattr(error, 'message', error)))
        except SubmitException as error:
            return _error_reply('submit', error.message)
        except Exception as error:  # any failure must reach the client as a reply
            return _error_reply('internal', f'{type(error).__name__}: {error}')
        replies = []
        for job, one in zip(jobs, held):
            self.jobs[job.id] = self.known[job.id] = job
            native_id = one.taken()
            status = job.status
            replies.append({'native_id': native_id, 'job_id': job.id,
                            'state': status.state.value, 'exit_code': status.exit_code,
                            'message': status.message, 'time': status.time})
        if array is not None:
            return {'elements': replies, 'watcher_pid': os.getpid()}
        return dict(replies[0], watcher_pid=os.getpid())

    def _job(self, request: Dict[str, Any], element: object) -> Job:
        """The job ``element`` (the request itself, or one of its array's elements) asks
        for, in the client's environment and directory, after its predecessors."""
        if not isinstance(element, dict):
            raise InvalidJobException(f'an element of the request\'s "elements" must be an '
                                      f'object, not {type(element).__name__}')
        spec = as_submitted_from(serialize.spec_from_dict(element['spec']),
                                 dict(request['environment']), str(request['cwd']))
        job = Job(spec)
        job_id = str(element.get('job_id') or job.id)
        if not HELD_ID.fullmatch(job_id):
            raise _WatcherError(f'job_id {job_id!r} is not a psij job id')
        job._id = job_id
        depend(job, resolve_dependencies(element.get('dependencies'), self._find,
                                         self.work_directory))
        return job

    def _array(self, request: Dict[str, Any]) -> JobArray:
        """The array a submit_array ``request`` asks for: its elements' specs as the client
        made them (index and all), the client's ids, the throttle."""
        elements = request.get('elements')
        if not isinstance(elements, list) or not elements:
            raise InvalidJobException('the request\'s "elements" must be a non-empty list')
        array_id = str(request.get('array_id'))
        jobs = [self._job(request, element) for element in elements]
        array = JobArray(jobs[0].spec or JobSpec(), len(jobs), request.get('throttle'))
        array.id = array_id
        for index, (element, job) in enumerate(zip(array.jobs, jobs)):
            if job.id != f'{array_id}-{index}' or not HELD_ID.fullmatch(job.id):
                raise InvalidJobException(
                    f'element {index} of array {array_id!r} has job_id {job.id!r}; expected '
                    f'"<array_id>-{index}", the array id a psij job id')
            element._id = job.id
            element.spec = job.spec
            element._dependencies = job._dependencies
        return array

    def _find(self, job_id: str, native_id: Optional[str]) -> Optional[Job]:
        """The job of this watcher with the id ``job_id``, or else the native id
        ``native_id`` (a held job's is its job id, a started one's its pid)."""
        job = self.known.get(job_id)
        if job is None and native_id is not None:
            job = self.known.get(native_id) or next(
                (job for job in self.known.values() if job.native_id == native_id), None)
        return job

    def busy(self) -> bool:
        """True while a job runs or waits, or one ended less than `LINGER` seconds ago."""
        self.jobs = {job_id: job for job_id, job in self.jobs.items() if not job.status.final}
        now = time.monotonic()
        if self.jobs:
            self.idle_since = now
            return True
        return now - self.idle_since < LINGER

    def wait_for_jobs(self) -> None:
        """Until every job has ended (a watcher that could not take the socket)."""
        for job in list(self.jobs.values()):
            while job.wait(timeout=3600.0) is None:
                pass


class _WatcherError(Exception):
    """A request this watcher cannot serve."""


class _HeldJob:
    """Keeps the held record (`psij.executors.local_held_records`) of one job up to date:
    only a job that was held when its submit returned gets one."""

    def __init__(self, records: HeldRecords, job: Job, watcher_pid: int) -> None:
        self._records = records
        self._job = job
        self._owner = (watcher_pid, process_start_ticks(watcher_pid))
        self._lock = threading.Lock()
        self._written = False

    def _write(self, state: str, status: JobStatus) -> None:
        self._records.write(HeldRecord(
            self._job.id, state, self._owner[0], self._owner[1],
            int(self._job.native_id) if self._job.native_id else None, status.message,
            status.time))

    def taken(self) -> str:
        """After submit() returned: record a job that has no process (held, or ended
        without one); the native id to report (the pid, else the job id)."""
        with self._lock:
            if self._job.native_id is not None:
                return self._job.native_id
            status = self._job.status
            self._write(status.state.name if status.final else 'QUEUED', status)
            self._written = True
            return self._job.id

    def status_changed(self, job: Job, status: JobStatus) -> None:
        # Called by the executor (any thread) for each change.
        with self._lock:
            if not self._written:
                return  # not held (yet: taken() records what it is)
            if status.state == JobState.ACTIVE and job.native_id is not None:
                self._write('STARTED', status)
            elif status.final and job.native_id is None:
                self._write(status.state.name, status)


def _error_reply(kind: str, message: str) -> Dict[str, Any]:
    return {'error': {'kind': kind, 'message': message}}


def _line(document: Dict[str, Any]) -> bytes:
    return (json.dumps(document) + '\n').encode()


# --- the socket ------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(path: pathlib.Path) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (created mode 0600)."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _is_live(path: pathlib.Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe, \
            socket_address(path) as address:
        try:
            probe.connect(address)
        except OSError:
            return False
    return True


class _Listener:
    """The watcher's socket, and the inode of its file (to remove only our own)."""

    def __init__(self, path: pathlib.Path, sock: socket.socket) -> None:
        self.path = path
        self.socket = sock
        self.inode = path.stat().st_ino


def _take_socket(path: pathlib.Path) -> Optional[_Listener]:
    """Listen on ``path`` unless a live watcher does; a socket left by a dead one is
    replaced. Under the lock file, so that two new watchers do not both take it."""
    with _locked(lock_path(path)):
        if path.exists():
            if _is_live(path):
                return None
            path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with socket_address(path) as address:
            sock.bind(address)
        sock.listen(64)
        sock.settimeout(ACCEPT_TICK)
        return _Listener(path, sock)


def _give_up_socket(listener: _Listener) -> None:
    """Stop listening and remove the socket file. Clients still in the backlog get no
    `HELLO`, and start a watcher of their own."""
    with _locked(lock_path(listener.path)):
        listener.socket.close()
        try:
            if listener.path.stat().st_ino == listener.inode:
                listener.path.unlink()
        except FileNotFoundError:
            pass


def _serve_one(watcher: _Watcher, connection: socket.socket) -> None:
    with connection:
        connection.settimeout(REQUEST_TIMEOUT)
        try:
            connection.sendall(HELLO)
            with connection.makefile('rb') as reader:
                line = reader.readline()
            if not line:
                return  # the client gave up before sending anything (or only probed)
            try:
                request = json.loads(line)
            except ValueError as error:
                reply = _error_reply('internal', f'the request is not JSON: {error}')
            else:
                reply = watcher.handle(request)
            connection.sendall(_line(reply))
        except OSError:
            return  # a client that went away


def _serve(watcher: _Watcher, listener: _Listener) -> None:
    while True:
        try:
            connection, _ = listener.socket.accept()
        except socket.timeout:
            if not watcher.busy():
                _give_up_socket(listener)
                return
            continue
        try:
            _serve_one(watcher, connection)
        except Exception:
            # Nothing one client does may end the watcher: its jobs' exit codes would be
            # lost. It has no stderr to complain to.
            pass


# --- the process -----------------------------------------------------------------------------


def _detach_stdout() -> None:
    sys.stdout.buffer.flush()
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)


def _reply(reply: Dict[str, Any]) -> None:
    """Answer the client that started this watcher, once, and let go of its pipe."""
    sys.stdout.buffer.write(_line(reply))
    _detach_stdout()


def _relay(path: pathlib.Path, request: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The reply of the live watcher on ``path`` to ``request`` (this one then has nothing
    to do), or None if it is gone."""
    try:
        return offer_to_running_watcher(path, _line(request))
    except SubmitException as error:
        return _error_reply('internal', error.message)


def main() -> int:
    """The watcher: take the socket, submit the job described on stdin, reply, then serve
    more jobs on the socket until no job has run for `LINGER` seconds."""
    # Fork once more and let the first process exit (the client reaps it at once): the
    # watcher then belongs to init, not to a long-lived client (a workflow, or a program that
    # ran psij submit in-process). No thread exists yet that the fork could lose.
    if os.fork() != 0:
        os._exit(0)
    try:
        request = json.loads(sys.stdin.buffer.read())
        watcher = _Watcher(str(request['executor']), str(request['work_directory']))
    except PluginLoadError as error:
        _reply(_error_reply('submit', str(error)))
        return 1
    except (ValueError, KeyError, OSError, InvalidJobException) as error:
        _reply(_error_reply('internal', f'cannot start the local watcher: {error}'))
        return 1
    # Jobs get the directory of their client (as_submitted_from), never the watcher's:
    # do not keep that directory busy.
    os.chdir('/')
    path = socket_path(watcher.work_directory, watcher.executor_name)
    listener = None
    if path is not None:
        # The socket first, then the job: a client that comes meanwhile waits in the
        # backlog for this watcher, instead of starting another one whose jobs would not
        # share this one's queue.
        try:
            listener = _take_socket(path)
        except OSError:
            listener = None  # serve our own job only
        else:
            relayed = _relay(path, request) if listener is None else None
            if relayed is not None:  # another watcher started first: the job is its own
                _reply(relayed)
                return 0
    reply = watcher.handle(request)
    _reply(reply)
    if 'error' in reply or 'found' in reply:  # nothing to keep
        if listener is not None:
            _give_up_socket(listener)
        return 1
    if listener is None:
        watcher.wait_for_jobs()
    else:
        _serve(watcher, listener)
    return 0


if __name__ == '__main__':
    sys.exit(main())
