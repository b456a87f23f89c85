"""What a detached local executor (``LocalJobExecutorConfig(detached=True)``, and so
``psij submit -e local``) and its watcher process agree on (see `psij.executors.local_watcher`
for why the watcher exists).

Messages are JSON objects, one per line; ``"op"`` is one of `OPS`:

* submit (client → watcher): ``{"op": "submit", "executor": <name>, "config": {<settings of
  the watcher's executor, of CONFIG_KEYS>}, "spec": <serialized JobSpec>, "job_id": <the
  client's Job.id>, "dependencies": <DEPENDENCIES>, "work_directory": <str>, "environment":
  {<the client's environment>}, "cwd": <str>}``; reply: ``{"native_id", "job_id", "state",
  "exit_code", "message", "time", "watcher_pid"}``; ``native_id`` is the pid of a job that
  started, the job id of a job the watcher holds (`psij.executors.local_held_records`);
* submit_array (client → watcher): ``{"op": "submit_array", "executor", "config",
  "work_directory", "environment", "cwd"`` as for submit, ``"array_id": <JobArray.id>,
  "throttle": <int or null>, "elements": [{"spec": <the element's serialized JobSpec, its
  index already in it>, "job_id": <"<array_id>-<index>">, "dependencies": <DEPENDENCIES>},
  ...]}``; reply: ``{"elements": [<a submit reply without watcher_pid>, ...], "watcher_pid"}``,
  in the order of the request;
* cancel (client → watcher): ``{"op": "cancel", "job_id": <str>}``, for a job the watcher
  holds; reply: ``{"found": <bool>}`` (false: the watcher has no such job);
* any error: ``{"error": {"kind": <one of ERROR_KINDS>, "message": <str>}}``.

DEPENDENCIES (`psij.executors.local_watcher_dependencies`): ``[{"condition": "afterok" or
"afterany", "jobs": [{"job_id", "native_id", "state", "message", "exit_code"}, ...]}, ...]``,
one entry per `Job.depends_on` call; ``state`` is the final state the client saw, or null.

Over the watcher's socket, the watcher first sends `HELLO`; a client that does not get it has
not been heard, and may start a watcher of its own without risking a second copy of its job.
A client only talks to a watcher that greets it with its own `HELLO`: one of another version
(which would run a submit_array as one job, or a job without its dependencies) is passed over.
"""

import contextlib
import os
import pathlib
import re
from typing import Dict, Iterator, Optional, Union

from psij.executors.local_staging import submitting_side_path

from psij.job_spec import JobSpec
from psij.staging import URI, StageIn, StageOut

#: The watcher's greeting on its socket; the number changes with the protocol (3: arrays
#: and dependencies).
HELLO = b'psij-local-watcher 3\n'
#: The requests a watcher serves.
OPS = ('submit', 'submit_array', 'cancel')
#: What an error reply may say went wrong: the job is invalid (`InvalidJobException`), its
#: submission failed (`SubmitException`), or the watcher itself failed.
ERROR_KINDS = ('invalid_job', 'submit', 'internal')
#: The settings of the watcher's executor that a client may send (``"config"``, only those
#: it sets): those of `psij.executors.local.LocalJobExecutorConfig` that decide when jobs
#: start (the cap; the budget, shared with every process through its ledger).
CONFIG_KEYS = ('max_in_flight', 'cores', 'gpus', 'memory')
#: A socket address holds at most 107 bytes (sun_path).
MAX_SOCKET_ADDRESS = 107
_SAFE_NAME = re.compile(r'[A-Za-z0-9_.-]+')


def socket_path(work_directory: str, executor: str) -> Optional[pathlib.Path]:
    """The socket of the shared watcher of ``executor`` (``local``, or a plugin's subclass
    of it) in ``work_directory``, or None for an executor name that does not fit in a file
    name.

    It lives in the local executor's directory, which is mode 0700: only this user can
    connect, so only this user's jobs are submitted through it.
    """
    if not _SAFE_NAME.fullmatch(executor):
        return None
    return pathlib.Path(work_directory) / 'local' / f'watcher.{executor}.sock'


@contextlib.contextmanager
def socket_address(path: pathlib.Path) -> Iterator[str]:
    """An address to bind or connect to the socket file ``path``: the path itself, or, when
    it is too long for a socket address (deep work directories), the same file reached
    through ``/proc/self/fd`` and a descriptor of its directory (valid while in the
    ``with``)."""
    if len(os.fsencode(str(path))) <= MAX_SOCKET_ADDRESS:
        yield str(path)
        return
    directory = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f'/proc/self/fd/{directory}/{path.name}'
    finally:
        os.close(directory)


def lock_path(socket: pathlib.Path) -> pathlib.Path:
    """The lock file that serialises taking over and giving up ``socket``."""
    return socket.with_suffix('.lock')


def as_submitted_from(spec: JobSpec, environment: Dict[str, str], cwd: str) -> JobSpec:
    """``spec`` made independent of the watcher's own environment and directory.

    A shared watcher runs jobs for several client processes, each with its own environment
    and working directory; the job must see the ones of the process that submitted it,
    exactly as if that process had started it. So an inherited environment is
    written out in full, and the job's directory and the submitting-side paths of its staging
    are made absolute against the client's (the executor resolves relative stream paths and
    job-side staging paths against the job's directory).
    """
    if spec.inherit_environment:
        merged: Dict[str, str] = dict(environment)
        merged.update(spec.environment or {})
        spec.environment = merged
        spec.inherit_environment = False
    if spec.directory is None:
        spec.directory = cwd
    elif not spec.directory.is_absolute():
        spec.directory = pathlib.Path(cwd) / spec.directory
    # Submitting-side staging paths are the client's too (the watcher runs in /); a URI that
    # is not local is left for submit() to refuse.
    if spec.stage_in:
        spec.stage_in = {StageIn(_from(entry.source, cwd), entry.target, entry.mode)
                         for entry in spec.stage_in}
    if spec.stage_out:
        spec.stage_out = {StageOut(out.source, _from(out.target, cwd), out.flags, out.mode)
                          for out in spec.stage_out}
    return spec


def _from(uri: URI, cwd: str) -> Union[str, URI]:
    return submitting_side_path(uri, cwd) if uri.is_local else uri
