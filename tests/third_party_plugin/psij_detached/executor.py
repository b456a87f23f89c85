"""The ``detached`` executor: local jobs that outlive the process that submitted them.

Each job runs as ``/bin/sh WRAPPER`` in a new session. The wrapper runs the launcher's
command under ``timeout`` (the job's duration) and writes the exit code to
``<work>/detached/<native id>.ec`` (to a temporary file first, then renamed). Those files
are the evidence of the final state, for this process and for any process that attaches.
"""

import os
import pathlib
import signal
import subprocess
import threading
import time
import uuid
from typing import Dict, List, Optional

from psij import (
    InvalidJobException,
    Job,
    JobExecutor,
    JobExecutorConfig,
    JobState,
    JobStatus,
    SubmitException,
)
from psij.poller import get_poller

POLL_INTERVAL = 0.2
#: A canceled job still running this long after its SIGTERM gets it again, then SIGKILL (a
#: signal that came while the wrapper was still starting may have found no trap yet).
RESEND_AFTER = 2.0
KILL_AFTER = 6.0
TIMED_OUT = 124  # what coreutils' timeout exits with when it ended the command

# sh -c WRAPPER EC_FILE TIMEOUT_SECONDS COMMAND...: with --foreground, timeout stays in the
# wrapper's process group, so the SIGTERM of a cancel (to that group) reaches the wrapper,
# timeout and the job at once. (Without it timeout makes a group of its own, and a job whose
# signal came from the trap while timeout was still starting it could outlive the cancel.)
# The trap passes the signal on too, and is set before the job starts, so a SIGTERM that comes
# at once is not lost. (A background command's stdin is /dev/null in sh: hence the copy of
# stdin on descriptor 3.)
WRAPPER = '''
child= terminated=
trap 'terminated=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM
exec 3<&0
timeout --foreground --kill-after=5 "$@" <&3 3<&- &
child=$!
[ -n "$terminated" ] && kill -TERM "$child" 2>/dev/null
wait "$child"
code=$?
while kill -0 "$child" 2>/dev/null; do wait "$child"; code=$?; done
echo "$code" > "$0.tmp" && mv "$0.tmp" "$0"
'''


class DetachedJobExecutor(JobExecutor):
    """Runs jobs locally, detached; ``native_id`` is a random id naming the job's files."""

    name = 'detached'
    version = '1.0.0'

    def __init__(self, url: Optional[str] = None,
                 config: Optional[JobExecutorConfig] = None) -> None:
        super().__init__(url=url, config=config)
        self.directory = pathlib.Path(self.config.work_directory) / 'detached'
        self._lock = threading.Lock()
        self._jobs: Dict[str, Job] = {}
        self._children: Dict[str, subprocess.Popen[bytes]] = {}
        self._canceled_at: Dict[str, float] = {}

    def _file(self, native_id: str, suffix: str) -> pathlib.Path:
        return self.directory / f'{native_id}{suffix}'

    # --- submit --------------------------------------------------------------------------

    def submit(self, job: Job) -> None:
        """Start the job now, detached; on return it is ACTIVE."""
        spec = self._check_job(job)
        native_id = uuid.uuid4().hex
        launcher = self._get_launcher(spec.launcher or 'single')
        command = launcher.get_launch_command(job, str(self._file(native_id, '.log')))
        seconds = max(1, int(spec.attributes.duration.total_seconds())) \
            if spec.attributes is not None else 600
        env = dict(os.environ) if spec.inherit_environment else {}
        env.update({key: str(value) for key, value in (spec.environment or {}).items()})
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            streams = [open(path, mode) if path is not None else subprocess.DEVNULL
                       for path, mode in ((spec.stdin_path, 'rb'), (spec.stdout_path, 'wb'),
                                          (spec.stderr_path, 'wb'))]
        except OSError as error:
            job.executor = None
            raise InvalidJobException(f'JobSpec stream path: {error}') from error
        try:
            child = subprocess.Popen(
                ['/bin/sh', '-c', WRAPPER, str(self._file(native_id, '.ec')), f'{seconds}s',
                 *command],
                stdin=streams[0], stdout=streams[1], stderr=streams[2], env=env,
                cwd=spec.directory, start_new_session=True)
        except OSError as error:
            job.executor = None
            raise SubmitException(f'could not start the job: {error}') from error
        finally:
            for stream in streams:
                if not isinstance(stream, int):
                    stream.close()
        self._file(native_id, '.pid').write_text(f'{child.pid}\n')
        job.native_id = native_id
        with self._lock:
            self._jobs[native_id] = job
            self._children[native_id] = child
        self._set_job_status(job, JobStatus(JobState.ACTIVE))
        get_poller().schedule(self, POLL_INTERVAL)

    # --- cancel, attach, list ------------------------------------------------------------

    def cancel(self, job: Job) -> None:
        """Send SIGTERM to the job's session; it ends CANCELED."""
        if not self._should_cancel(job):
            return
        self._file(str(job.native_id), '.canceled').touch()
        with self._lock:
            self._canceled_at.setdefault(str(job.native_id), time.monotonic())
        self._signal(str(job.native_id), signal.SIGTERM)

    def _signal(self, native_id: str, number: int) -> None:
        pid = self._pid(native_id)
        if pid is not None:
            try:
                os.killpg(pid, number)
            except ProcessLookupError:
                pass

    def attach(self, job: Job, native_id: str) -> None:
        """Follow the job ``native_id`` of this work directory, from any process."""
        self._check_attachable(job)
        if not native_id.isalnum() or not self._file(native_id, '.pid').exists():
            raise InvalidJobException(f'native_id {native_id!r}: no detached job with this id '
                                      f'in {self.directory}')
        job.executor = self
        job.native_id = native_id
        with self._lock:
            self._jobs[native_id] = job
        self._set_job_status(job, JobStatus(JobState.ACTIVE))
        self._check(native_id)
        get_poller().schedule(self, POLL_INTERVAL)

    def list(self) -> List[str]:
        """The ids of this work directory's jobs that are still running."""
        if not self.directory.is_dir():
            return []
        return sorted(path.stem for path in self.directory.glob('*.pid')
                      if not self._file(path.stem, '.ec').exists()
                      and self._alive(self._pid(path.stem)))

    # --- status --------------------------------------------------------------------------

    def poll(self) -> Optional[float]:
        """Look for exit-code files of the jobs followed (called by the poller thread)."""
        with self._lock:
            native_ids = list(self._jobs)
        for native_id in native_ids:
            self._check(native_id)
        with self._lock:
            return POLL_INTERVAL if self._jobs else None

    def _check(self, native_id: str) -> None:
        with self._lock:
            job = self._jobs.get(native_id)
            child = self._children.get(native_id)
        if job is None:
            return
        if child is not None:
            child.poll()  # reap our own child, so that its pid does not look alive
        status = self._final_status(native_id, alive=self._alive(self._pid(native_id)))
        if status is None:
            with self._lock:
                canceled_at = self._canceled_at.get(native_id)
            if canceled_at is not None:
                waited = time.monotonic() - canceled_at
                if waited > KILL_AFTER:
                    self._signal(native_id, signal.SIGKILL)
                elif waited > RESEND_AFTER:
                    self._signal(native_id, signal.SIGTERM)
            return
        with self._lock:
            self._jobs.pop(native_id, None)
            self._children.pop(native_id, None)
            self._canceled_at.pop(native_id, None)
        self._set_job_status(job, status)

    def _final_status(self, native_id: str, alive: bool) -> Optional[JobStatus]:
        canceled = self._file(native_id, '.canceled').exists()
        try:
            code = int(self._file(native_id, '.ec').read_text())
        except FileNotFoundError:
            if alive:
                return None
            if canceled:
                return JobStatus(JobState.CANCELED, message='canceled')
            return JobStatus(JobState.FAILED, message='outcome unknown: the job ended without '
                                                      'recording its exit code')
        if code == 0:
            return JobStatus(JobState.COMPLETED, exit_code=0)
        if canceled:
            return JobStatus(JobState.CANCELED, exit_code=code, message='canceled')
        if code in (TIMED_OUT, 128 + signal.SIGKILL):
            return JobStatus(JobState.FAILED, exit_code=code,
                             message='ended at its duration limit')
        return JobStatus(JobState.FAILED, exit_code=code, message=f'exit code {code}')

    def _pid(self, native_id: str) -> Optional[int]:
        try:
            return int(self._file(native_id, '.pid').read_text())
        except (FileNotFoundError, ValueError):
            return None

    @staticmethod
    def _alive(pid: Optional[int]) -> bool:
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
