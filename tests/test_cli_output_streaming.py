"""``psij run`` shows the job's output as it is written, like ``srun``: the INSTALLED ``psij``
run under a pseudo-terminal (its controlling terminal, so that Ctrl-C is the terminal's),
on the local executor, on the REAL Slurm cluster (.ci/lrm/slurm-up.sh) and over SSH to it.
Timestamps of what arrives on the terminal prove that output comes before the job ends."""

import fcntl
import json
import os
import pathlib
import select
import subprocess
import termios
import time
import uuid
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import pytest
from real_tools import require_slurm, require_sshd
from test_cli_support import INTERRUPTED, PSIJ, psij_environment

#: A job that prints a line, sleeps 3 s, then prints another.
TWO_LINES = ['sh', '-c', 'echo first; sleep 3; echo second']


def _executor_options(executor: str) -> List[str]:
    if executor == 'slurm':
        require_slurm()
    return ['-e', executor]


@dataclass
class Terminal:
    """What one psij run under a pseudo-terminal did: the chunks that came on the terminal
    (its stdout) with the time each arrived, its stderr (a pipe) and exit status."""

    chunks: List[Tuple[float, bytes]] = field(default_factory=list)
    stderr: bytes = b''
    returncode: Optional[int] = None
    ended_at: float = 0.0

    @property
    def output(self) -> bytes:
        """Everything shown on the terminal, with the terminal's CR LF as LF."""
        return b''.join(chunk for _, chunk in self.chunks).replace(b'\r\n', b'\n')

    def arrival(self, text: bytes) -> float:
        """When ``text`` had fully arrived on the terminal."""
        seen = b''
        for at, chunk in self.chunks:
            seen += chunk
            if text in seen.replace(b'\r\n', b'\n'):
                return at
        raise AssertionError(f'{text!r} never came on the terminal: {self.output!r}')

    def __str__(self) -> str:
        return (f'exit {self.returncode}\n--- terminal ---\n{self.output!r}\n'
                f'--- stderr ---\n{self.stderr.decode(errors="replace")}')


def _take_terminal() -> None:
    # In the child, after setsid: the pty on fd 0 becomes its controlling terminal.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def run_on_terminal(work_dir: pathlib.Path, *args: str, env: Optional[Dict[str, str]] = None,
                    type_after: Optional[Tuple[bytes, bytes]] = None,
                    timeout: float = 240.0) -> Terminal:
    """Run ``psij ARGS`` with a pty as stdin, stdout and controlling terminal, stderr a pipe.
    ``type_after=(seen, keys)``: once ``seen`` came on the terminal, type ``keys``."""
    master, slave = os.openpty()
    process = subprocess.Popen([str(PSIJ), *args], stdin=slave, stdout=slave,
                               stderr=subprocess.PIPE, env=psij_environment(work_dir, env),
                               start_new_session=True, preexec_fn=_take_terminal)
    os.close(slave)
    assert process.stderr is not None
    result = Terminal()
    deadline = time.monotonic() + timeout
    stderr_parts: List[bytes] = []
    open_streams = {master, process.stderr.fileno()}
    try:
        while open_streams:
            assert time.monotonic() < deadline, f'psij {args} did not end: {result}'
            ready, _, _ = select.select(list(open_streams), [], [], 0.5)
            for stream in ready:
                try:
                    data = os.read(stream, 65536)
                except OSError:  # EIO: the terminal's last holder closed it
                    data = b''
                if not data:
                    open_streams.discard(stream)
                elif stream == master:
                    result.chunks.append((time.monotonic(), data))
                else:
                    stderr_parts.append(data)
            if type_after is not None and type_after[0] in result.output:
                os.write(master, type_after[1])
                type_after = None
        result.returncode = process.wait(timeout=max(deadline - time.monotonic(), 1.0))
        result.ended_at = time.monotonic()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
        process.stderr.close()
    result.stderr = b''.join(stderr_parts)
    return result


def _assert_streamed(result: Terminal) -> None:
    assert result.returncode == 0, str(result)
    # Each line exactly once: nothing lost, nothing shown twice.
    assert result.output == b'first\nsecond\n', str(result)
    first, second = result.arrival(b'first\n'), result.arrival(b'second\n')
    assert second - first >= 2.0, f'first at {first}, second at {second}: {result}'
    assert result.ended_at - first >= 2.0, str(result)
    assert b'COMPLETED' in result.stderr, str(result)


def _no_files_left(work_dir: pathlib.Path) -> None:
    directory = work_dir / 'run-output'
    assert not directory.exists() or list(directory.iterdir()) == []


@pytest.mark.parametrize('executor', ['local', 'slurm'])
def test_output_comes_while_the_job_runs(work_dir: pathlib.Path, executor: str) -> None:
    result = run_on_terminal(work_dir, 'run', *_executor_options(executor), '--', *TWO_LINES)
    _assert_streamed(result)
    _no_files_left(work_dir)  # the files psij chose are removed once shown


@pytest.mark.parametrize('executor', ['local', 'slurm'])
def test_stderr_reaches_stderr_and_the_exit_code_is_kept(work_dir: pathlib.Path,
                                                         executor: str) -> None:
    result = run_on_terminal(work_dir, 'run', *_executor_options(executor), '--', 'sh', '-c',
                             'echo to-stdout; echo to-stderr >&2; exit 3')
    assert result.returncode == 3, str(result)
    assert result.output == b'to-stdout\n', str(result)
    lines = result.stderr.decode().splitlines()
    assert lines[0] == 'to-stderr', str(result)
    assert lines[-1].startswith('psij: job ') and 'FAILED exit=3' in lines[-1], str(result)


@pytest.mark.parametrize('executor', ['local', 'slurm'])
def test_quiet_shows_nothing_of_the_job(work_dir: pathlib.Path, executor: str) -> None:
    result = run_on_terminal(work_dir, 'run', '--quiet', *_executor_options(executor), '--',
                             'sh', '-c', 'echo to-stdout; echo to-stderr >&2')
    assert result.returncode == 0, str(result)
    assert result.output == b'', str(result)
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and 'COMPLETED' in lines[0], str(result)
    assert not (work_dir / 'run-output').exists()


def test_json_is_the_only_stdout(work_dir: pathlib.Path) -> None:
    result = run_on_terminal(work_dir, 'run', '--json', '--', 'sh', '-c', 'echo to-stdout')
    assert result.returncode == 0, str(result)
    assert json.loads(result.output)['state'] == 'COMPLETED', str(result)


@pytest.mark.parametrize('executor', ['local', 'slurm'])
def test_ctrl_c_cancels_the_job(work_dir: pathlib.Path, executor: str) -> None:
    result = run_on_terminal(work_dir, 'run', *_executor_options(executor), '--', 'sh', '-c',
                             'echo started; sleep 120; echo never',
                             type_after=(b'started\n', b'\x03'))
    assert result.returncode == INTERRUPTED, str(result)
    assert b'never' not in result.output and result.output.startswith(b'started\n')
    lines = result.stderr.decode().splitlines()
    assert any('canceling job' in line for line in lines), str(result)
    assert lines[-1].startswith('psij: job ') and 'CANCELED' in lines[-1], str(result)


def test_bytes_and_partial_lines_pass_unchanged(work_dir: pathlib.Path) -> None:
    # Through a pipe (no terminal translating newlines): the bytes exactly as written, and a
    # line without its newline shows before the job ends.
    started = time.monotonic()
    process = subprocess.Popen(
        [str(PSIJ), 'run', '--', 'sh', '-c', r"printf 'a\000b\377 partial'; sleep 3; "
                                             r"printf ' end'"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=psij_environment(work_dir))
    assert process.stdout is not None
    first = process.stdout.read1(65536)  # type: ignore[attr-defined]
    first_at = time.monotonic()
    rest, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert first + rest == b'a\x00b\xff partial end'
    assert first.startswith(b'a\x00b\xff') and b'end' not in first
    assert time.monotonic() - first_at >= 2.0 and first_at - started < 30


@pytest.mark.parametrize('executor', ['local', 'slurm'])
def test_given_files_are_followed_and_old_content_never_shown(
        work_dir: pathlib.Path, tmp_path: pathlib.Path, executor: str) -> None:
    out, err = tmp_path / 'out.txt', tmp_path / 'err.txt'
    out.write_text('OLD OUTPUT OF AN EARLIER RUN\n')
    result = run_on_terminal(work_dir, 'run', *_executor_options(executor),
                             '--stdout', str(out), '--stderr', str(err), '--', 'sh', '-c',
                             'echo first; echo oops >&2; sleep 3; echo second')
    assert result.returncode == 0, str(result)
    assert result.output == b'first\nsecond\n', str(result)
    assert result.ended_at - result.arrival(b'first\n') >= 2.0, str(result)
    assert result.stderr.decode().splitlines()[0] == 'oops', str(result)
    assert out.read_text() == 'first\nsecond\n' and err.read_text() == 'oops\n'  # kept


def test_output_comes_while_the_job_runs_over_ssh() -> None:
    require_slurm()
    host = require_sshd()
    # Under this user's home: the same path under the test user's home over SSH.
    work_dir = pathlib.Path.home() / '.psij' / 'ssh-tests' / str(uuid.uuid4())
    result = run_on_terminal(work_dir, 'run', '-e', 'slurm', '--url', 'ssh://psij-test', '--',
                             *TWO_LINES, env={'PSIJ_SSH_CONFIG': str(host.config)})
    _assert_streamed(result)
