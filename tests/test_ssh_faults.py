"""Faults of the SSH connection under real Slurm jobs (issue 14): the network fails, no job
fails with it, and none is submitted twice.

* the master connection is killed (SIGKILL of its pid, then ``ssh -O exit`` of the next one)
  while jobs are queued and running: later commands open a new master by themselves, every
  job ends in its true state with its true exit code;
* the sshd is stopped (its listener and every connection it serves) for 30 s while 20 jobs
  are in flight, some of which run and end meanwhile: once it is back every job ends right,
  and while it was away no job changed state, except one whose exit-code marker the tracker
  had already read before (that evidence may settle it without another word from the host).

Each test then counts its jobs in Slurm's accounting (every job has a name of its own): one
submission each. The jobs run as the test user ``psijssh`` on the real Slurm of this
machine, reached through a private sshd (`.ci/lrm/sshd-up.sh` with its own directory and port
`FAULT_PORT`) so that the shared one on port 2222, which other tests use, is never touched.
Jobs meant to be queued when the fault comes are held (``--hold``) and released as root on
this machine, which needs no SSH.
"""

import dataclasses
import datetime
import os
import pathlib
import signal
import time
import uuid
from typing import Dict, Iterator, List, Optional, Tuple

import pytest
from batch_helpers import final_status, wait_until
from real_tools import require_slurm, require_sshd
from ssh_fault_support import (
    PrivateSshd,
    exit_markers_seen,
    exit_master,
    master_pid,
    slurm_cancel,
    slurm_jobs,
    slurm_release,
)

from psij import Job, JobAttributes, JobExecutor, JobSpec, JobState, JobStatus
from psij.batch import BatchSchedulerExecutor, BatchSchedulerExecutorConfig
from psij.ssh import SshTransport, parse_ssh_url

pytestmark = pytest.mark.slow

URL = 'ssh://psij-test'
FAULT_PORT = 2231
FAULT_DIRECTORY = pathlib.Path('/tmp/psij-sshd-faults')
SHARED_SSHD_PID = pathlib.Path('/tmp/psij-sshd/sshd.pid')
OUTAGE = 30.0
#: Longest wait for a job's final state (the cluster may be shared with a benchmark).
FINAL_TIMEOUT = 120.0


@dataclasses.dataclass(frozen=True)
class Seen:
    """One status a job was given, and when (monotonic clock)."""

    at: float
    state: JobState
    exit_code: Optional[int]


@dataclasses.dataclass
class FaultRun:
    """An executor over the private sshd, and the jobs a test made with it."""

    executor: BatchSchedulerExecutor
    sshd: PrivateSshd
    prefix: str
    started: datetime.datetime
    jobs: List[Job] = dataclasses.field(default_factory=list)
    expected: Dict[str, int] = dataclasses.field(default_factory=dict)
    seen: Dict[str, List[Seen]] = dataclasses.field(default_factory=dict)

    def job(self, seconds: float, exit_code: int, held: bool = False) -> Job:
        """A job of ``sleep seconds; exit exit_code`` with a name of its own (held at Slurm
        until released if ``held``), whose statuses are recorded."""
        name = f'{self.prefix}-{len(self.jobs)}'
        attributes = JobAttributes(custom_attributes={'slurm.hold': True}) if held else None
        job = Job(JobSpec('/bin/sh', ['-c', f'sleep {seconds}; exit {exit_code}'], name=name,
                          attributes=attributes))
        seen = self.seen[job.id] = []

        def record(_job: Job, status: JobStatus) -> None:
            seen.append(Seen(time.monotonic(), status.state, status.exit_code))

        job.set_job_status_callback(record)
        self.jobs.append(job)
        self.expected[job.id] = exit_code
        return job

    def native_ids(self, jobs: List[Job]) -> List[str]:
        ids = [job.native_id for job in jobs]
        assert all(ids), ids
        return [str(native_id) for native_id in ids]

    def check_final_states(self) -> None:
        """Every job ends COMPLETED with 0 or FAILED with its own exit code."""
        for job in self.jobs:
            status = final_status(job, FINAL_TIMEOUT)
            code = self.expected[job.id]
            wanted = (JobState.COMPLETED, 0) if code == 0 else (JobState.FAILED, code)
            assert (status.state, status.exit_code) == wanted, (
                f'{job.spec and job.spec.name} ({job.native_id}): {status}')

    def check_submitted_once(self) -> None:
        """Slurm knows one job per name, the one psij tracked, and no other of this test."""
        wanted = {str(job.spec and job.spec.name): str(job.native_id) for job in self.jobs}
        # Accounting records come a little after the controller has the job.
        records: Dict[str, List[Tuple[str, str]]] = {}

        def all_recorded() -> bool:
            nonlocal records
            records = slurm_jobs(self.prefix + '-', self.started)
            return set(records) >= set(wanted)

        wait_until(all_recorded, 'the accounting records of every job', 30)
        submissions = {name: [job_id for job_id, _ in found] for name, found in records.items()}
        assert submissions == {name: [native_id] for name, native_id in wanted.items()}


def _shared_sshd_pid() -> Optional[int]:
    try:
        return int(SHARED_SSHD_PID.read_text())
    except (OSError, ValueError):
        return None


@pytest.fixture(scope='module')
def private_sshd() -> Iterator[PrivateSshd]:
    require_slurm()
    require_sshd()  # the shared test sshd: the test user exists and key logins work
    shared = _shared_sshd_pid()
    sshd = PrivateSshd(FAULT_DIRECTORY, FAULT_PORT)
    sshd.start()
    yield sshd
    pid = sshd.pid()
    if pid is not None:
        os.kill(pid, signal.SIGTERM)  # its own pid only; its connections end with the master
    assert _shared_sshd_pid() == shared, 'the shared sshd was restarted'
    assert shared is None or os.path.exists(f'/proc/{shared}'), 'the shared sshd is gone'


@pytest.fixture
def run(private_sshd: PrivateSshd, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultRun]:
    host = private_sshd.start()  # back up if an earlier test failed while it was stopped
    monkeypatch.setenv('PSIJ_SSH_CONFIG', str(host.config))
    exit_master(URL)  # each test opens its own master
    # Under this user's home: the same path under psijssh's home on the remote side.
    work = pathlib.Path.home() / '.psij' / 'ssh-tests' / str(uuid.uuid4())
    config = BatchSchedulerExecutorConfig(
        work_directory=work, initial_queue_polling_delay=0.2, queue_polling_interval=2.0,
        marker_polling_interval=0.5, outcome_timeout=60)
    executor = JobExecutor.get_instance('slurm', url=URL, config=config)
    assert isinstance(executor, BatchSchedulerExecutor)
    started = datetime.datetime.now() - datetime.timedelta(minutes=1)
    faults = FaultRun(executor, private_sshd, f'psijfault-{uuid.uuid4().hex[:8]}', started)
    yield faults
    # A failed test leaves no job held or queued at Slurm.
    slurm_cancel([str(job.native_id) for job in faults.jobs
                  if job.native_id and not job.status.final])
    exit_master(URL)


def test_a_killed_master_is_replaced_and_every_job_ends_once(run: FaultRun) -> None:
    run.job(1, 0)
    run.job(1, 3)
    running = [run.job(8, 0), run.job(8, 3)]
    held = [run.job(1, code, held=True) for code in (0, 3, 0, 3)]
    for job in run.jobs:
        run.executor.submit(job)
    first = master_pid(URL)
    assert first is not None, 'the submissions opened no master'
    wait_until(lambda: any(job.status.state == JobState.ACTIVE for job in running),
               'the start of a long job', FINAL_TIMEOUT)

    os.kill(first, signal.SIGKILL)
    assert all(job.status.state == JobState.QUEUED for job in held)
    second: Optional[int] = None

    def reopened(than: int) -> bool:
        nonlocal second
        second = master_pid(URL)
        return second not in (None, than)

    wait_until(lambda: reopened(first), 'a new master after SIGKILL', 30)
    assert second is not None
    exit_master(URL)
    wait_until(lambda: reopened(second), 'a new master after ssh -O exit', 30)
    assert all(job.status.state == JobState.QUEUED for job in held)

    slurm_release(run.native_ids(held))
    run.check_final_states()
    assert master_pid(URL) is not None
    assert isinstance(run.executor.transport, SshTransport)
    assert run.executor.transport.run(['true']).ok
    run.check_submitted_once()


def test_sshd_down_for_30_s_under_20_jobs(run: FaultRun) -> None:
    # 12 run at once (2 to 4 s, a quarter exit 3); 8 are held and released while sshd is
    # down, so that they run and end with nobody able to look.
    free = [run.job(2 + i % 3, 3 if i % 4 == 1 else 0) for i in range(12)]
    held = [run.job(2 + i % 3, 3 if i % 4 == 2 else 0, held=True) for i in range(8)]
    for job in run.jobs:
        run.executor.submit(job)
    wait_until(lambda: any(job.status.state == JobState.ACTIVE for job in free),
               'the start of a job', FINAL_TIMEOUT)

    run.sshd.stop()
    down_wall = time.time()
    assert isinstance(run.executor.transport, SshTransport)
    refused = SshTransport(parse_ssh_url(URL)).run(['true'])
    assert refused.returncode is None, refused
    # Nothing can be learned from now on; what was read just before is handled within 1 s.
    time.sleep(1.0)
    quiet_from = time.monotonic()
    evidence = exit_markers_seen(run.executor)
    slurm_release(run.native_ids(held))
    time.sleep(max(OUTAGE - (time.time() - down_wall), 0.0))
    back_at = time.monotonic()
    run.sshd.start()
    up_wall = time.time()

    run.check_final_states()
    # While the host was away: no job changed state but one whose marker had been read.
    for job in run.jobs:
        changes = [seen for seen in run.seen[job.id] if quiet_from <= seen.at < back_at]
        allowed = job.id in evidence
        assert all(allowed and seen.state.final for seen in changes), (
            f'{job.spec and job.spec.name} ({job.native_id}) changed state while the sshd was '
            f'down, with no evidence read before: {changes}')
    # The test meant something: jobs ended at Slurm while nobody could look.
    ended_meanwhile = [job for job in run.jobs if down_wall <= _marker_time(run, job) < up_wall]
    assert ended_meanwhile, 'no job ended while the sshd was down'
    run.check_submitted_once()


def _marker_time(run: FaultRun, job: Job) -> float:
    """When the job wrote its exit-code marker (wall clock): the remote work directory is on
    this machine, under the test user's home."""
    marker = run.executor.directory / f'{job.native_id}.ec'
    return marker.stat().st_mtime
