"""``psij submit -e local``: hand the job to a watcher process that outlives ``psij submit``
(see `psij.executors.local_watcher`): the running shared watcher if one answers, else a new one."""

import json
import os
import pathlib
import socket
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Dict, Optional

from psij.executors.local_watcher_protocol import HELLO, socket_address, socket_path

from psij import serialize
from psij.cli.exit_status import CliError, ExitStatus
from psij.job_spec import JobSpec
from psij.job_state import JobState
from psij.job_status import JobStatus

WATCHER_MODULE = 'psij.executors.local_watcher'
#: How long a running watcher may take to greet; one that does not is passed over.
HELLO_TIMEOUT = 10.0
#: How long a watcher that greeted may take to submit the job and reply.
REPLY_TIMEOUT = 60.0


@dataclass
class DetachedSubmission:
    """What the watcher reported once the job was started."""

    native_id: str
    job_id: str
    status: JobStatus
    watcher_pid: int


def submit_detached(executor_name: str, spec: JobSpec,
                    work_directory: str) -> DetachedSubmission:
    """Have a watcher submit ``spec`` to the local executor ``executor_name`` and keep the
    job until it ends; return once the job has started.

    Raises `CliError` with the status matching the watcher's error (invalid spec, refused
    submission...), or `ExitStatus.INTERNAL` if the watcher failed without a word.
    """
    directory = os.path.abspath(work_directory)  # the watcher runs in /
    request = (json.dumps({
        'executor': executor_name, 'spec': serialize.spec_to_dict(spec),
        'work_directory': directory, 'environment': dict(os.environ), 'cwd': os.getcwd(),
    }) + '\n').encode()
    path = socket_path(directory, executor_name)
    reply = _offer_to_running_watcher(path, request) if path is not None else None
    if reply is None:
        reply = _start_watcher(request)
    error = reply.get('error')
    if isinstance(error, dict):
        kind = str(error.get('kind'))
        raise CliError(ExitStatus[kind] if kind in ExitStatus.__members__
                       else ExitStatus.INTERNAL, str(error.get('message')))
    status = JobStatus(JobState.from_name(reply['state']), reply['time'], reply['message'],
                       reply['exit_code'])
    return DetachedSubmission(str(reply['native_id']), str(reply['job_id']), status,
                              int(reply['watcher_pid']))


def _offer_to_running_watcher(path: pathlib.Path, request: bytes
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
                raise CliError(ExitStatus.INTERNAL,
                               f'the local job watcher on {path} did not answer ({error}); '
                               'the job may have started: see psij list') from error
    return reply


def _start_watcher(request: bytes) -> Dict[str, Any]:
    # A new session: the watcher must outlive this process and ignore the terminal's
    # signals. Its stderr is discarded: it has nobody to talk to once psij submit is gone.
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
        raise CliError(ExitStatus.INTERNAL,
                       f'the local job watcher ({sys.executable} -m {WATCHER_MODULE}) ended '
                       f'(status {watcher.returncode}) before reporting the job') from None
    return reply
