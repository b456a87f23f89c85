"""What the SSH fault tests (`test_ssh_faults`) break and count: a private test sshd that may
be stopped and started again without touching the shared one (`PrivateSshd`), the SSH master
connection of an ``ssh://`` url (`master_pid`, `exit_master`), and the jobs Slurm knows for
the test user (`slurm_jobs`)."""

import dataclasses
import datetime
import os
import pathlib
import re
import signal
import socket
import subprocess
import time
from typing import Dict, List, Optional, Sequence, Set, Tuple

from real_tools import SshHost

from psij.batch import BatchSchedulerExecutor
from psij.ssh.transport import ssh_options
from psij.ssh.url import parse_ssh_url

REPOSITORY = pathlib.Path(__file__).resolve().parent.parent
SSHD_UP = REPOSITORY / '.ci' / 'lrm' / 'sshd-up.sh'
#: The Slurm user the test sshd logs in as.
TEST_USER = 'psijssh'


def _alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie does not: this machine's init may never reap it)."""
    try:
        stat = pathlib.Path(f'/proc/{pid}/stat').read_text()
    except OSError:
        return False
    return stat[stat.rindex(')') + 2] != 'Z'


def descendants(pid: int) -> List[int]:
    """Every process below ``pid`` (children, their children...), from /proc."""
    children: Dict[int, List[int]] = {}
    for entry in pathlib.Path('/proc').iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / 'stat').read_text()
        except OSError:
            continue  # ended meanwhile
        parent = int(stat[stat.rindex(')') + 2:].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: List[int] = []
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(('127.0.0.1', port)) == 0


@dataclasses.dataclass(frozen=True)
class PrivateSshd:
    """A test sshd of our own (`.ci/lrm/sshd-up.sh` with its own state directory and port):
    the same test user and client config layout as the shared one on port 2222, whose host
    ``psij-test`` it names in ``directory/client/config``, but a fault test may stop it."""

    directory: pathlib.Path
    port: int

    @property
    def host(self) -> SshHost:
        return SshHost(self.directory / 'client' / 'config', 'psij-test')

    def pid(self) -> Optional[int]:
        """The pid of its listener, if it runs."""
        try:
            pid = int((self.directory / 'sshd.pid').read_text())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def start(self) -> SshHost:
        """Start it (the script is idempotent: ~0.3 s when it is already up)."""
        done = subprocess.run(['bash', str(SSHD_UP), str(self.directory)],
                              env=dict(os.environ, SSHD_PORT=str(self.port)),
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f'{SSHD_UP} {self.directory} failed: {done.stderr}'
        assert self.pid() is not None, done.stderr
        return self.host

    def stop(self) -> None:
        """Stop it as a host that goes away: the listener and every connection it serves
        (an sshd that only stops listening keeps its connections, and the master with them),
        so every client's connection drops and new ones are refused."""
        pid = self.pid()
        assert pid is not None, f'the sshd of {self.directory} is not running'
        os.kill(pid, signal.SIGSTOP)  # it forks no new connection while they are found
        doomed = [pid, *descendants(pid)]
        for victim in doomed:
            try:
                os.kill(victim, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10.0
        while any(_alive(victim) for victim in doomed) or _port_open(self.port):
            assert time.monotonic() < deadline, f'sshd {doomed} still there after SIGKILL'
            time.sleep(0.02)


# --- the master connection -----------------------------------------------------------------

def _control(url: str, command: str) -> 'subprocess.CompletedProcess[str]':
    """``ssh -O command`` with the options psij gives every ssh to ``url`` (the same
    ``ControlPath``, and ``-F $PSIJ_SSH_CONFIG``)."""
    parsed = parse_ssh_url(url)
    return subprocess.run(['ssh', *ssh_options(parsed), '-O', command, parsed.destination],
                          capture_output=True, text=True, timeout=30)


def master_pid(url: str) -> Optional[int]:
    """The pid of the master connection psij's commands to ``url`` share, if one is open."""
    checked = _control(url, 'check')
    found = re.search(r'Master running \(pid=([0-9]+)\)', checked.stderr)
    return int(found.group(1)) if checked.returncode == 0 and found else None


def exit_master(url: str) -> None:
    """Ask the master of ``url`` to exit (``ssh -O exit``), if one is open."""
    _control(url, 'exit')


# --- what the tracker has seen, and what Slurm has --------------------------------------------

def exit_markers_seen(executor: BatchSchedulerExecutor) -> Set[str]:
    """The psij ids of the tracked, unfinished jobs whose exit-code marker the tracker has
    already read (their final state may come without another word from the host)."""
    tracker = executor.tracker
    if tracker is None:
        return set()
    with tracker._lock:
        return {job_id for job_id, tracked in tracker._jobs.items()
                if tracked.exit_marker is not None}


def slurm_time(moment: datetime.datetime) -> str:
    """``moment`` as sacct's ``--starttime`` takes it."""
    return moment.strftime('%Y-%m-%dT%H:%M:%S')


def slurm_jobs(prefix: str, since: datetime.datetime) -> Dict[str, List[Tuple[str, str]]]:
    """The jobs of the test user that Slurm's accounting knows, submitted since ``since``,
    whose name starts with ``prefix``: name -> [(job id, state)], one entry per submission
    (``sacct -X``: allocations, not steps; it lists pending jobs too)."""
    listed = subprocess.run(
        ['sacct', '-X', '-n', '-P', '-u', TEST_USER, '-S', slurm_time(since),
         '-o', 'JobID,JobName,State'],
        capture_output=True, text=True, timeout=60, check=True).stdout
    jobs: Dict[str, List[Tuple[str, str]]] = {}
    for line in listed.splitlines():
        job_id, name, state = line.split('|')
        if name.startswith(prefix):
            jobs.setdefault(name, []).append((job_id, state.split()[0]))
    return jobs


def slurm_release(native_ids: Sequence[str]) -> None:
    """Release held jobs (as root, on this machine: no SSH needed, it may be down)."""
    subprocess.run(['scontrol', 'release', ','.join(native_ids)], check=True,
                   capture_output=True, timeout=60)


def slurm_cancel(native_ids: Sequence[str]) -> None:
    """Cancel jobs (as root, on this machine), so that a failed test leaves none queued."""
    if native_ids:
        subprocess.run(['scancel', *native_ids], capture_output=True, timeout=60)
