"""``psij submit -e local``: a detached watcher process that owns local jobs until they end.

The local executor learns a job's exit code by reaping it, which only the process that started
it can do; if that process ends first, the outcome is lost and an attached job ends FAILED
"outcome unknown". ``psij submit`` returns at once, so it does not start the job itself: a
watcher does, and stays until the job has ended and its exit code is recorded in the work
directory, for ``psij status``/``wait`` in any process.

One watcher serves every ``psij submit`` of an executor and work directory while it runs
(one Python process per job would cost ~25 MB each): ``psij submit`` first offers its job on
the watcher's socket (`psij.executors.local_watcher_protocol.socket_path`), and starts a
new watcher only when none answers. A new watcher is started as
``python -m psij.executors.local_watcher`` in a new session, so that the terminal's Ctrl-C
and hang-up do not reach it, and forks once more, so that it belongs to init (or the nearest
subreaper) rather than to whoever ran ``psij submit``. It submits the job it was started for
(the request on its stdin), replies on its stdout and points stdout at /dev/null (so that
``psij submit``, and whoever captures its output, see the end of it), then takes the socket,
unless a live watcher holds it (it then serves its own jobs only). It leaves
`LINGER` seconds after its last job ended, giving up the socket first.

Each job runs in the environment and directory of the ``psij submit`` that sent it
(`psij.executors.local_watcher_protocol.as_submitted_from`); other process attributes
(umask, limits) are the watcher's. If the watcher is killed, its jobs keep running but their
outcome is unknown, as the local executor documents.
"""

import contextlib
import fcntl
import json
import os
import pathlib
import socket
import sys
import time
from typing import Any, Dict, Iterator, List, Optional

from psij.executors.local_watcher_protocol import (
    HELLO,
    as_submitted_from,
    lock_path,
    socket_address,
    socket_path,
)

from psij import serialize
from psij.cli.exit_status import CliError, ExitStatus
from psij.exceptions import InvalidJobException, SubmitException
from psij.job import Job
from psij.job_executor import JobExecutor
from psij.job_executor_config import JobExecutorConfig
from psij.plugins import PluginLoadError

#: Seconds the watcher stays after its last job ended, for the next ``psij submit``.
LINGER = 5.0
#: How long a client may take to send its request once connected.
REQUEST_TIMEOUT = 10.0
#: How often the serving loop looks whether it is time to leave.
ACCEPT_TICK = 0.5


class _Watcher:
    """The jobs of one watcher process, all from one executor and work directory."""

    def __init__(self, executor_name: str, work_directory: str) -> None:
        self.executor_name = executor_name
        self.work_directory = work_directory
        self.executor = JobExecutor.get_instance(
            executor_name, config=JobExecutorConfig(work_directory=work_directory))
        self.jobs: List[Job] = []
        self.idle_since = time.monotonic()

    def submit(self, request: Dict[str, Any]) -> Dict[str, Any]:
        """Submit the requested job; the reply to send (see the protocol)."""
        try:
            if request.get('executor') != self.executor_name or \
                    request.get('work_directory') != self.work_directory:
                raise CliError(ExitStatus.INTERNAL, 'request for another executor or work '
                                                    'directory than this watcher serves')
            spec = as_submitted_from(serialize.spec_from_dict(request['spec']),
                                     dict(request['environment']), str(request['cwd']))
            job = Job(spec)
            self.executor.submit(job)
        except CliError as error:
            return _error_reply(error.status, error.message)
        except serialize.SpecFormatError as error:
            return _error_reply(ExitStatus.BAD_SPEC, error.message)
        except InvalidJobException as error:
            return _error_reply(ExitStatus.BAD_SPEC, error.message)
        except SubmitException as error:
            return _error_reply(ExitStatus.BACKEND, f'submission failed: {error.message}')
        except Exception as error:  # any failure must reach psij submit as a reply
            return _error_reply(ExitStatus.INTERNAL, f'{type(error).__name__}: {error}')
        self.jobs.append(job)
        status = job.status
        return {'native_id': job.native_id, 'job_id': job.id, 'state': status.state.value,
                'exit_code': status.exit_code, 'message': status.message,
                'time': status.time, 'watcher_pid': os.getpid()}

    def busy(self) -> bool:
        """True while a job runs or ended less than `LINGER` seconds ago."""
        self.jobs = [job for job in self.jobs if not job.status.final]
        now = time.monotonic()
        if self.jobs:
            self.idle_since = now
            return True
        return now - self.idle_since < LINGER

    def wait_for_jobs(self) -> None:
        """Until every job has ended (a watcher that could not take the socket)."""
        for job in self.jobs:
            while job.wait(timeout=3600.0) is None:
                pass


def _error_reply(kind: ExitStatus, message: str) -> Dict[str, Any]:
    return {'error': {'kind': kind.name, 'message': message}}


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
            reply = watcher.submit(json.loads(line))
            connection.sendall(_line(reply))
        except (OSError, ValueError):
            return  # a client that went away or sent garbage


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


def _first_job(request: Dict[str, Any]) -> Optional[_Watcher]:
    """Submit the job of the ``psij submit`` that started this watcher and reply on stdout;
    the watcher, or None if the job could not be submitted."""
    watcher: Optional[_Watcher] = None
    try:
        watcher = _Watcher(str(request['executor']), str(request['work_directory']))
    except PluginLoadError as error:
        reply = _error_reply(ExitStatus.UNKNOWN_PLUGIN, str(error))
    except (ValueError, KeyError, OSError) as error:
        reply = _error_reply(ExitStatus.INTERNAL, f'cannot start the local watcher: {error}')
    else:
        reply = watcher.submit(request)
    sys.stdout.buffer.write(_line(reply))
    _detach_stdout()
    return watcher if 'native_id' in reply else None


def main() -> int:
    """The watcher: submit the job described on stdin, reply, then serve more jobs on the
    socket until no job has run for `LINGER` seconds."""
    # Fork once more and let the first process exit (psij submit reaps it at once): the
    # watcher then belongs to init, not to a long-lived program that ran psij submit
    # in-process. No thread exists yet that the fork could lose.
    if os.fork() != 0:
        os._exit(0)
    try:
        request = json.loads(sys.stdin.buffer.read())
    except ValueError as error:
        sys.stdout.buffer.write(_line(_error_reply(ExitStatus.INTERNAL,
                                                   f'bad request: {error}')))
        return 1
    # Jobs get the directory of their psij submit (as_submitted_from), never the watcher's:
    # do not keep that directory busy.
    os.chdir('/')
    watcher = _first_job(request)
    if watcher is None:
        return 1
    path = socket_path(watcher.work_directory, watcher.executor_name)
    listener = None
    if path is not None:
        try:
            listener = _take_socket(path)
        except OSError:
            listener = None  # serve our own job only
    if listener is None:
        watcher.wait_for_jobs()
    else:
        _serve(watcher, listener)
    return 0


if __name__ == '__main__':
    sys.exit(main())
