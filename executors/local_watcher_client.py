"""The client side of the detached watcher (`psij.executors.local_watcher`): hand a job to the
running shared watcher if one answers, else to a new one (a job, or the elements of an array);
ask it to cancel a job it holds."""

import json
import os
import pathlib
import socket
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

from psij import serialize
from psij.exceptions import InvalidJobException, SubmitException
from psij.job_spec import JobSpec
from psij.job_state import JobState
from psij.job_status import JobStatus

from .local_watcher_protocol import HELLO, socket_address, socket_path

WATCHER_MODULE = 'psij.executors.local_watcher'
#: How long a running watcher may take to greet; one that does not is passed over.
HELLO_TIMEOUT = 10.0
#: How long a watcher that greeted may take to submit the job and reply.
REPLY_TIMEOUT = 60.0


@dataclass
class WatcherSubmission:
    """What the watcher reported once it had the job."""

    #: The pid of a job that started; the job id of one the watcher holds.
    native_id: str
    job_id: str
    status: JobStatus
    watcher_pid: int


def submit_to_watcher(executor_name: str, spec: JobSpec, job_id: str, work_directory: str,
                      config: Dict[str, Any], dependencies: Sequence[Dict[str, Any]] = ()
                      ) -> WatcherSubmission:
    """Have a watcher submit ``spec`` (as the job ``job_id``, after ``dependencies``: see
    `psij.executors.local_watcher_dependencies`) to its local executor ``executor_name`` made
    with the settings ``config``, and keep the job until it ends; return once the job has
    started or is held.

    Raises `InvalidJobException` for a job the watcher found invalid, `SubmitException` if the
    submission failed or the watcher failed without a word.
    """
    reply = _ask_watcher(executor_name, work_directory, config, {
        'op': 'submit', 'spec': serialize.spec_to_dict(spec), 'job_id': job_id,
        'dependencies': list(dependencies)})
    return _submission(reply, int(reply['watcher_pid']))


@dataclass
class ArrayElement:
    """One element of an array, as the watcher is to submit it."""

    spec: JobSpec
    job_id: str
    dependencies: Sequence[Dict[str, Any]] = ()


def submit_array_to_watcher(executor_name: str, array_id: str, throttle: Optional[int],
                            elements: Sequence[ArrayElement], work_directory: str,
                            config: Dict[str, Any]) -> List[WatcherSubmission]:
    """Like `submit_to_watcher`, for the elements of the array ``array_id``, at most
    ``throttle`` of them running at once: all or none are submitted; one submission per
    element, in order."""
    reply = _ask_watcher(executor_name, work_directory, config, {
        'op': 'submit_array', 'array_id': array_id, 'throttle': throttle,
        'elements': [{'spec': serialize.spec_to_dict(element.spec), 'job_id': element.job_id,
                      'dependencies': list(element.dependencies)} for element in elements]})
    submissions = [_submission(element, int(reply['watcher_pid']))
                   for element in reply['elements']]
    if [submission.job_id for submission in submissions] != \
            [element.job_id for element in elements]:
        raise SubmitException(f'the local job watcher did not report the elements of array '
                              f'{array_id} as they were sent')
    return submissions


def _ask_watcher(executor_name: str, work_directory: str, config: Dict[str, Any],
                 request: Dict[str, Any]) -> Dict[str, Any]:
    """The reply to a submit ``request`` (the common fields added) of the running watcher, or
    of a new one; an error reply raised."""
    directory = os.path.abspath(work_directory)  # the watcher runs in /
    request.update({'executor': executor_name, 'config': config, 'work_directory': directory,
                    'environment': dict(os.environ), 'cwd': os.getcwd()})
    line = _line(request)
    path = socket_path(directory, executor_name)
    reply = offer_to_running_watcher(path, line) if path is not None else None
    if reply is None:
        reply = _start_watcher(line)
    _raise_error(reply)
    return reply


def _submission(reply: Dict[str, Any], watcher_pid: int) -> WatcherSubmission:
    status = JobStatus(JobState.from_name(reply['state']), reply['time'], reply['message'],
                       reply['exit_code'])
    return WatcherSubmission(str(reply['native_id']), str(reply['job_id']), status,
                             watcher_pid)


def cancel_at_watcher(executor_name: str, work_directory: str, job_id: str) -> bool:
    """Ask the running watcher to cancel the job ``job_id`` it holds; False if no watcher
    answered or it has no such job."""
    path = socket_path(os.path.abspath(work_directory), executor_name)
    if path is None:
        return False
    reply = offer_to_running_watcher(path, _line({'op': 'cancel', 'job_id': job_id}))
    if reply is None:
        return False
    _raise_error(reply)
    return bool(reply.get('found'))


def _line(document: Dict[str, Any]) -> bytes:
    return (json.dumps(document) + '\n').encode()


def _raise_error(reply: Dict[str, Any]) -> None:
    error = reply.get('error')
    if not isinstance(error, dict):
        return
    message = str(error.get('message'))
    if error.get('kind') == 'invalid_job':
        raise InvalidJobException(message)
    raise SubmitException(message if error.get('kind') == 'submit'
                          else f'the local job watcher failed: {message}')


def offer_to_running_watcher(path: pathlib.Path, request: bytes
                              ) -> Optional[Dict[str, Any]]:
    """The reply of the watcher listening on ``path``, or None if none greeted us (then
    nothing was submitted, and a new watcher may be started)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(HELLO_TIMEOUT)
        try:
            with socket_address(path) as address:
                connection.connect(address)
        except OSError:
            return None  # no watcher, or a dead one's socket
        with connection.makefile('rb') as reader:
            try:
                greeted = reader.readline() == HELLO
            except OSError:
                greeted = False
            if not greeted:
                return None  # one that is leaving, or of another version
            # From here on the watcher may start the job: never submit it a second time.
            try:
                connection.settimeout(REPLY_TIMEOUT)
                connection.sendall(request)
                reply: Dict[str, Any] = json.loads(reader.readline())
            except (OSError, ValueError) as error:
                raise SubmitException(
                    f'the local job watcher on {path} did not answer ({error}); the job may '
                    'have started: see JobExecutor.list() (psij list)') from error
    return reply


def _start_watcher(request: bytes) -> Dict[str, Any]:
    # A new session: the watcher must outlive this process and ignore the terminal's
    # signals. Its stderr is discarded: it has nobody to talk to once its client is gone.
    watcher = subprocess.Popen([sys.executable, '-m', WATCHER_MODULE],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    assert watcher.stdin is not None and watcher.stdout is not None
    try:
        watcher.stdin.write(request)
        watcher.stdin.close()
    except BrokenPipeError:
        pass  # it died at once; the missing reply below says so
    line = watcher.stdout.readline()
    watcher.stdout.close()
    watcher.wait()  # the first of the watcher's two processes, which exits at once
    try:
        reply: Dict[str, Any] = json.loads(line)
    except ValueError:
        raise SubmitException(
            f'the local job watcher ({sys.executable} -m {WATCHER_MODULE}) ended (status '
            f'{watcher.returncode}) before reporting the job') from None
    return reply
