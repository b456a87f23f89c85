"""Starting a local job's process: its environment, its streams and the one ``Popen`` call.

The process is the lead of a session (and process group) of its own, so that a cancel can
signal everything it started. Every ``submit`` of a local job goes through here, so each
step is kept cheap: the environment is copied as the bytes the interpreter already holds
(``Popen`` would otherwise encode every inherited variable again, ~50 us for 40 variables),
and the process's start time, which its journal record names it by, is known from the clock
readings around its start, without reading ``/proc/PID/stat``: that read waits while the new
process is still being set up (median 50 us, one read in ten over 0.7 ms here), and until
the record is written the reaper cannot be told of the job, so a short job waited for it.

The budget's spawn lock (`psij.executors.local_spawn_lock`) counts on two things of the
``Popen`` call: the child's ``setsid`` (``start_new_session``) and its closing every
descriptor but its streams just before ``exec`` (``close_fds``, the default).
"""

import errno
import os
import signal
import subprocess
import sys
import time
from typing import Dict, List, Mapping, Optional, Tuple

from psij.exceptions import InvalidJobException, SubmitException
from psij.job_spec import JobSpec

from .local_records import process_start_ticks
from .local_streams import open_streams


def _nanoseconds_per_tick() -> Optional[int]:
    """Nanoseconds per clock tick of ``/proc/PID/stat``'s start time, where the kernel
    derives that time from CLOCK_BOOTTIME (Linux: the boot-time clock at the fork, divided
    down to ticks), else None."""
    if not sys.platform.startswith('linux') or not hasattr(time, 'CLOCK_BOOTTIME'):
        return None
    try:
        ticks_per_second = os.sysconf('SC_CLK_TCK')
    except (ValueError, OSError):
        return None
    if ticks_per_second <= 0 or 10**9 % ticks_per_second:
        return None
    return 10**9 // ticks_per_second


_NANOSECONDS_PER_TICK = _nanoseconds_per_tick()

#: A fault for tests only: this process kills itself with SIGKILL right after starting its
#: N-th job's process, before it can write the job's pid anywhere (the budget ledger's crash
#: window). Read once, here; unset in normal use.
_KILL_AFTER_SPAWN = int(os.environ.get('PSIJ_TEST_KILL_AFTER_SPAWN', '0') or 0)
_spawned = 0


def _boot_clock() -> int:
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME) if _NANOSECONDS_PER_TICK else 0


def _inherited_environment() -> Dict[bytes, bytes]:
    """A copy of this process's environment, as bytes."""
    # os.environb wraps a dict of the encoded variables: copying that dict is one C call,
    # where copying the mapping calls two Python methods per variable.
    data = getattr(os.environb, '_data', None)
    if isinstance(data, dict):
        return dict(data)
    return dict(os.environb)


def job_environment(spec: JobSpec, added: Mapping[bytes, bytes]) -> Dict[bytes, bytes]:
    """The environment of ``spec``'s process: this process's (if it inherits it), the spec's
    variables, then ``added`` (psij's own, such as ``PSIJ_NODEFILE``)."""
    env = _inherited_environment() if spec.inherit_environment else {}
    for key, value in (spec.environment or {}).items():
        env[os.fsencode(key)] = os.fsencode(value)
    env.update(added)
    return env


def start_ticks(pid: int, before: int, after: int) -> int:
    """The start time of child ``pid`` in clock ticks since boot (as `process_start_ticks`
    reads it), forked between the boot-clock readings ``before`` and ``after`` (ns): the
    kernel stamps a process with that clock when it forks it, so when both readings fall in
    the same tick, so does the start. Otherwise (or on another system) it is read. The child
    must not have been reaped yet (its pid is still its own)."""
    if _NANOSECONDS_PER_TICK and before:
        first, last = before // _NANOSECONDS_PER_TICK, after // _NANOSECONDS_PER_TICK
        if first == last:
            return first
    return process_start_ticks(pid)


def start_process(argv: List[str], spec: JobSpec, env: Dict[bytes, bytes]
                  ) -> Tuple['subprocess.Popen[bytes]', int]:
    """Start ``argv`` with ``spec``'s streams and directory in a session of its own; returns
    the process and its start time in clock ticks (see `start_ticks`).

    Raises `InvalidJobException` if the executable cannot be run (naming the field) and
    `SubmitException` if the process could not be started (transient when the machine is
    out of processes or memory for now, so that a held job is tried again later)."""
    streams = open_streams(spec)
    try:
        before = _boot_clock()
        process = subprocess.Popen(argv, stdin=streams[0], stdout=streams[1],
                                   stderr=streams[2], cwd=spec.directory, env=env,
                                   start_new_session=True)
        if _KILL_AFTER_SPAWN:
            _test_fault()
        return process, start_ticks(process.pid, before, _boot_clock())
    except (FileNotFoundError, PermissionError) as error:
        raise InvalidJobException(
            f'JobSpec.executable {argv[0]!r} cannot be run: {error.strerror}') from error
    except OSError as error:
        raise SubmitException(f'could not start {argv[0]!r}: {error}', error,
                              transient=error.errno in (errno.EAGAIN, errno.ENOMEM)
                              ) from error
    finally:
        for stream in streams:
            if isinstance(stream, int) or stream is None:
                continue
            stream.close()


def _test_fault() -> None:
    """See `_KILL_AFTER_SPAWN`."""
    global _spawned
    _spawned += 1
    if _spawned == _KILL_AFTER_SPAWN:
        os.kill(os.getpid(), signal.SIGKILL)
