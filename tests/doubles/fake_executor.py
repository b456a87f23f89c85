"""Runs a launcher's command the way an executor does, without any executor.

The command runs in the job's directory, with the job's environment (the test's environment
plus ``JobSpec.environment``), ``PSIJ_NODEFILE`` pointing to a node file, and stdin, stdout
and stderr opened on the job's paths (``/dev/null`` where unset; stdout and stderr truncated).
"""

import dataclasses
import os
import pathlib
import socket
import subprocess
from typing import Dict, List, Optional

from psij import Job, JobSpec, Launcher


@dataclasses.dataclass
class LaunchResult:
    """What a launch left behind."""

    argv: List[str]
    exit_code: int
    stdout: str
    stderr: str
    log: str
    """The launcher log, '' if it was not written."""
    launcher: Launcher

    @property
    def launcher_failed(self) -> bool:
        """True if the log reports a launcher failure."""
        return self.launcher.is_launcher_failure(self.log)

    @property
    def failure_message(self) -> str:
        """The launcher failure messages of the log."""
        return self.launcher.get_launcher_failure_message(self.log)


def _read(path: Optional[pathlib.Path]) -> str:
    if path is None or not path.exists():
        return ''
    return path.read_text(encoding='utf-8', errors='replace')


def launch(launcher_name: str, spec: JobSpec, directory: pathlib.Path,
           env: Optional[Dict[str, str]] = None, hosts: Optional[List[str]] = None,
           use_log: bool = True, timeout: float = 60) -> LaunchResult:
    """Launch ``spec`` with the named launcher in ``directory``; wait for it to end.

    ``env`` adds to the test's environment (``JobSpec.environment`` is added after it);
    ``hosts`` are the lines of the node file (this host, once per process, by default);
    ``use_log=False`` passes no launcher log file.
    """
    launcher = Launcher.get_instance(launcher_name)
    log_path = directory / 'launcher.log' if use_log else None
    argv = launcher.get_launch_command(Job(spec), None if log_path is None else str(log_path))
    node_file = directory / 'nodes'
    if hosts is None:
        count = getattr(spec.resources, 'computed_process_count', 1)
        hosts = [socket.gethostname()] * count
    node_file.write_text(''.join(host + '\n' for host in hosts))
    full_env = {**os.environ, **(env or {}), **(spec.environment or {}),
                'PSIJ_NODEFILE': str(node_file)}

    def resolve(path: Optional[pathlib.Path]) -> Optional[pathlib.Path]:
        return None if path is None else directory / path

    stdout_path, stderr_path = resolve(spec.stdout_path), resolve(spec.stderr_path)
    with open(resolve(spec.stdin_path) or os.devnull, 'rb') as stdin, \
            open(stdout_path or os.devnull, 'wb') as stdout, \
            open(stderr_path or os.devnull, 'wb') as stderr:
        completed = subprocess.run(argv, stdin=stdin, stdout=stdout, stderr=stderr,
                                   cwd=directory, env=full_env, timeout=timeout)
    return LaunchResult(argv=argv, exit_code=completed.returncode, stdout=_read(stdout_path),
                        stderr=_read(stderr_path), log=_read(log_path), launcher=launcher)
