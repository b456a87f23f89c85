#!/usr/bin/env python3
"""fake_lineq -- a TEST DOUBLE of a small batch scheduler ("lineq") with ``lq-submit``,
``lq-status``, ``lq-cancel`` and ``lq-list``. It is not a scheduler, and lineq is not a real
product: it exists so that tests/psij_python_plugin (an executor plugin written for
psij-python's batch base) has a scheduler of its own to drive.

The four commands in this directory are links to this file; a test puts the directory first
on PATH. Every submitted script runs at once on this machine, in the background, in its own
session (so that a cancel, or a test killing the job, reaches all of it), in the directory
``lq-submit`` ran in, with lq-submit's environment plus ``LQ_JOB_ID``.

Commands (ids are decimal numbers):
  lq-submit SCRIPT        prints ``Job <id> accepted by lineq``
  lq-status [ID...]       one line ``<id> <STATE> [<exit code>]`` per known job, STATE one of
                          QUEUED RUNNING DONE CANCELLED; an unknown id is named on stderr
                          (``lq-status: unknown job <id>``) and makes it exit 1. Without ids:
                          every job it knows.
  lq-cancel ID            SIGTERM to the job's session (it ends CANCELLED); exit 1 and
                          ``lq-cancel: unknown job <id>`` for an unknown id, exit 3 and
                          ``lq-cancel: job <id> has already finished`` for a finished one
  lq-list [--user USER]   the ids of the unfinished jobs (of USER), one per line

Environment (the tests set it; the background jobs inherit it):
  FAKE_LINEQ_STATE   directory holding the double's state (required; created if missing)

Control files in FAKE_LINEQ_STATE, read on every call:
  forget_finished    while it exists, a finished job is unknown to every command, as on a
                     scheduler that keeps no history of finished jobs
  next_id            the id the next job gets (1 when missing)

Every call appends ``{"command": ..., "argv": [...], "time": ...}`` as a JSON line to
FAKE_LINEQ_STATE/calls.log. ``jobs/<id>.json`` is the double's record of a job (its state,
``session``: the pid of its session leader, ``exit_code``).
"""

import contextlib
import fcntl
import json
import os
import pwd
import re
import signal
import subprocess
import sys
import time
from typing import Any, Callable, Dict, Iterator, List, Optional

Job = Dict[str, Any]

FINISHED = ('DONE', 'CANCELLED')


class Refused(Exception):
    """A command refuses its request: print ``message`` on stderr and exit ``status``."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


# --- state ---------------------------------------------------------------------------------

def state_directory() -> str:
    """The double's state directory (made if missing)."""
    directory = os.environ.get('FAKE_LINEQ_STATE')
    if not directory:
        raise Refused('fake_lineq: FAKE_LINEQ_STATE is not set (this is a test double)', 2)
    os.makedirs(os.path.join(directory, 'jobs'), exist_ok=True)
    return directory


def forgets_finished() -> bool:
    """True while the control file says finished jobs are forgotten."""
    return os.path.exists(os.path.join(state_directory(), 'forget_finished'))


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """Hold the double's lock: a job's record is read and written whole under it."""
    with open(os.path.join(state_directory(), '.lock'), 'a') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def job_path(job_id: int) -> str:
    """Where the record of job ``job_id`` is kept."""
    return os.path.join(state_directory(), 'jobs', f'{job_id}.json')


def load(job_id: int, remembered: bool = False) -> Optional[Job]:
    """The record of ``job_id``; None if there is none or (unless ``remembered``) the job has
    finished and finished jobs are forgotten."""
    try:
        with open(job_path(job_id)) as stream:
            job: Job = json.load(stream)
    except (FileNotFoundError, ValueError):
        return None
    if not remembered and job['state'] in FINISHED and forgets_finished():
        return None
    return job


def save(job: Job) -> None:
    """Replace the record of ``job`` at once (readers never see half of it)."""
    temporary = job_path(job['id']) + '.tmp'
    with open(temporary, 'w') as stream:
        json.dump(job, stream)
    os.replace(temporary, job_path(job['id']))


def find(native_id: str) -> Optional[Job]:
    """The record of the job called ``native_id``, if the double knows it."""
    return load(int(native_id)) if re.fullmatch(r'[0-9]+', native_id) else None


def all_jobs() -> List[Job]:
    """Every job the double knows, by id."""
    names = os.listdir(os.path.join(state_directory(), 'jobs'))
    ids = sorted(int(name[:-5]) for name in names if re.fullmatch(r'[0-9]+\.json', name))
    return [job for job in map(load, ids) if job is not None]


# --- lq-submit and the job runner ----------------------------------------------------------

def lq_submit(arguments: List[str]) -> int:
    """Record the job, start its runner in the background and print its id."""
    if len(arguments) != 1:
        raise Refused('usage: lq-submit SCRIPT', 2)
    script = arguments[0]
    if not os.path.isfile(script):
        raise Refused(f'lq-submit: cannot read {script}', 2)
    with locked():
        counter = os.path.join(state_directory(), 'next_id')
        try:
            with open(counter) as stream:
                job_id = int(stream.read().strip() or '1')
        except FileNotFoundError:
            job_id = 1
        with open(counter, 'w') as stream:
            stream.write(str(job_id + 1))
        spool = os.path.join(state_directory(), 'jobs', f'{job_id}.script')
        with open(script, 'rb') as source, open(spool, 'wb') as copy:
            copy.write(source.read())  # a scheduler runs its own copy of the script
        save({'id': job_id, 'state': 'QUEUED', 'script': spool, 'workdir': os.getcwd(),
              'user': pwd.getpwuid(os.getuid()).pw_name, 'submitted': time.time(),
              'cancel_requested': False, 'session': None, 'exit_code': None})
    log = open(os.path.join(state_directory(), 'runner.log'), 'a')
    subprocess.Popen([sys.executable, os.path.abspath(__file__), '--run-job', str(job_id)],
                     stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                     close_fds=True)
    print(f'Job {job_id} accepted by lineq')
    return 0


def run_job(job_id: int) -> int:
    """Run the job's script in a session of its own and record how it ended."""
    output = open(os.path.join(state_directory(), 'jobs', f'{job_id}.output'), 'ab')
    with locked():
        job = load(job_id, remembered=True)
        if job is None or job['state'] != 'QUEUED':
            return 0  # canceled before it started
        environment = {**os.environ, 'LQ_JOB_ID': str(job_id)}
        process = subprocess.Popen(['/bin/bash', job['script']], cwd=job['workdir'],
                                   env=environment, stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=output, start_new_session=True)
        job.update(state='RUNNING', session=process.pid, started=time.time())
        save(job)
    code = process.wait()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # nothing of a job outlives it
    with locked():
        job = load(job_id, remembered=True)
        if job is not None:
            job.update(state='CANCELLED' if job['cancel_requested'] else 'DONE',
                       exit_code=code if code >= 0 else 128 - code, ended=time.time())
            save(job)
    return 0


# --- lq-status, lq-cancel, lq-list ---------------------------------------------------------

def status_line(job: Job) -> str:
    """``<id> <STATE> [<exit code>]``."""
    code = job['exit_code']
    return f'{job["id"]} {job["state"]}' + (f' {code}' if job['state'] == 'DONE' else '')


def lq_status(arguments: List[str]) -> int:
    """Print the state of each job asked for (every job if none)."""
    if not arguments:
        for known in all_jobs():
            print(status_line(known))
        return 0
    status = 0
    for native_id in arguments:
        job = find(native_id)
        if job is None:
            print(f'lq-status: unknown job {native_id}', file=sys.stderr)
            status = 1
        else:
            print(status_line(job))
    return status


def lq_cancel(arguments: List[str]) -> int:
    """Ask the job to stop: its session gets SIGTERM, and it ends CANCELLED."""
    if len(arguments) != 1:
        raise Refused('usage: lq-cancel ID', 2)
    native_id = arguments[0]
    with locked():
        job = find(native_id)
        if job is None:
            raise Refused(f'lq-cancel: unknown job {native_id}', 1)
        if job['state'] in FINISHED:
            raise Refused(f'lq-cancel: job {native_id} has already finished', 3)
        if job['state'] == 'QUEUED':
            job.update(state='CANCELLED', cancel_requested=True, ended=time.time())
            save(job)
            return 0
        job['cancel_requested'] = True
        save(job)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(job['session'], signal.SIGTERM)
    return 0


def lq_list(arguments: List[str]) -> int:
    """Print the ids of the unfinished jobs (of one user)."""
    user: Optional[str] = None
    if arguments[:1] == ['--user'] and len(arguments) == 2:
        user = arguments[1]
    elif arguments:
        raise Refused('usage: lq-list [--user USER]', 2)
    for job in all_jobs():
        if job['state'] not in FINISHED and user in (None, job['user']):
            print(job['id'])
    return 0


COMMANDS: Dict[str, Callable[[List[str]], int]] = {
    'lq-submit': lq_submit, 'lq-status': lq_status, 'lq-cancel': lq_cancel,
    'lq-list': lq_list}


def main(argv: List[str]) -> int:
    """Act as the command this file was called by (or run a job, for lq-submit)."""
    if argv[1:2] == ['--run-job']:
        return run_job(int(argv[2]))
    command = os.path.basename(argv[0])
    try:
        with open(os.path.join(state_directory(), 'calls.log'), 'a') as log:
            log.write(json.dumps({'command': command, 'argv': argv[1:],
                                  'time': time.time()}) + '\n')
        if command not in COMMANDS:
            raise Refused(f'fake_lineq: run me as one of {", ".join(COMMANDS)}', 2)
        return COMMANDS[command](argv[1:])
    except Refused as refusal:
        print(str(refusal), file=sys.stderr)
        return refusal.status


if __name__ == '__main__':
    sys.exit(main(sys.argv))
