"""Helpers of the CLI tests (no tests here): run the INSTALLED ``psij`` as a subprocess.

The ``psij`` console script is found beside the interpreter running the tests
(``.venv/bin/psij``), so the tests exercise what users run, entry point included.
"""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

PSIJ = pathlib.Path(sys.executable).parent / 'psij'
REPO = pathlib.Path(__file__).resolve().parent.parent

#: Every exit status psij chooses itself (psij --help and docs/cli.md list them).
USAGE, BAD_SPEC, NO_INPUT, UNKNOWN_JOB, UNREACHABLE, UNKNOWN_PLUGIN = 64, 65, 66, 67, 68, 69
FAILED_WITHOUT_EXIT_CODE, CANCELED, TIMEOUT, BACKEND, INTERRUPTED = 71, 72, 75, 76, 130

#: The keys of every job record (docs/cli.md).
JOB_RECORD_KEYS = {'executor', 'native_id', 'job_id', 'state', 'final', 'exit_code', 'message',
                   'time', 'metadata', 'error'}


@dataclass
class Result:
    """What one psij command did."""

    args: List[str]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """stdout parsed as the one JSON document it must be."""
        return json.loads(self.stdout)

    def __str__(self) -> str:
        return (f'psij {" ".join(self.args)} -> {self.returncode}\n--- stdout ---\n'
                f'{self.stdout}--- stderr ---\n{self.stderr}')


def psij_environment(work_dir: pathlib.Path,
                     extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The environment of a psij command: the test's work directory, no inherited
    PSIJ_EXECUTOR."""
    env = {key: value for key, value in os.environ.items()
           if key not in ('PSIJ_EXECUTOR', 'PSIJ_CLI_DEBUG')}
    env['PSIJ_WORK_DIRECTORY'] = str(work_dir)
    env.update(extra or {})
    return env


def psij(work_dir: pathlib.Path, *args: str, env: Optional[Dict[str, str]] = None,
         stdin: Optional[str] = None, cwd: Optional[pathlib.Path] = None,
         timeout: float = 120) -> Result:
    """Run ``psij ARGS`` to completion with the test's work directory."""
    completed = subprocess.run([str(PSIJ), *args], input=stdin, capture_output=True,
                               text=True, env=psij_environment(work_dir, env), cwd=cwd,
                               timeout=timeout)
    return Result(list(args), completed.returncode, completed.stdout, completed.stderr)


def start_psij(work_dir: pathlib.Path, *args: str,
               stdout: Any = subprocess.PIPE) -> 'subprocess.Popen[str]':
    """Start ``psij ARGS`` without waiting for it."""
    return subprocess.Popen([str(PSIJ), *args], stdout=stdout, stderr=subprocess.PIPE,
                            text=True, env=psij_environment(work_dir))


def assert_one_error_line(result: Result, status: int, *fragments: str) -> None:
    """psij failed with ``status`` and said why in exactly one ``psij: error:`` line."""
    assert result.returncode == status, str(result)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, str(result)
    assert lines[0].startswith('psij: error: '), str(result)
    assert 'Traceback' not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], str(result)


#: A gated job gives up waiting after this many checks (0.05 s apart): a test that failed
#: before opening its gate leaves no job behind for long.
_GATE_CHECKS = 3000


def gated_command(gate: pathlib.Path, exit_code: int = 0) -> List[str]:
    """A job that waits until ``gate`` exists, then exits with ``exit_code``: the test
    decides when it ends, instead of guessing how long anything takes. (If the gate never
    opens, it exits 99 after a few minutes.)"""
    return ['sh', '-c', f'i=0; while [ ! -e "{gate}" ]; do [ $i -ge {_GATE_CHECKS} ] && '
                        f'exit 99; i=$((i+1)); sleep 0.05; done; exit {exit_code}']



def eventually(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Wait until ``check()`` is true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f'{what}: not within {timeout} s'
        time.sleep(0.05)


def parent_pid(pid: int) -> int:
    """The parent of process ``pid`` (from /proc)."""
    text = pathlib.Path(f'/proc/{pid}/stat').read_text()
    return int(text[text.rindex(')') + 2:].split()[1])


def process_exists(pid: int) -> bool:
    """True if ``pid`` is a live process (not a zombie)."""
    try:
        text = pathlib.Path(f'/proc/{pid}/stat').read_text()
    except FileNotFoundError:
        return False
    return text[text.rindex(')') + 2:].split()[0] not in ('Z', 'X')


def interrupt(process: 'subprocess.Popen[str]') -> None:
    """Send Ctrl-C's signal to a started psij."""
    process.send_signal(signal.SIGINT)
