"""PATH wrappers that log every call of some commands, for the benchmarks of issue 13.

`CommandLog` writes one wrapper per command into ``<directory>/bin`` and puts that directory
first on this process's PATH, so every command psij runs, every subprocess the benchmark
starts and every Slurm job they submit (a job inherits the submitter's environment) goes
through it. A wrapper appends one line, ``<time>\\t<command>\\t<$SLURM_JOB_ID>\\t<args>``, to
the log and execs the real command: the counts come from outside the code measured, and a
call made by a job script (``SLURM_JOB_ID`` set) is told apart from one made by the submitting
process.
"""

import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence


@dataclass(frozen=True)
class Call:
    """One logged call."""

    time: float  # the wall clock (time.time()) when the wrapper ran
    command: str
    job_id: str  # $SLURM_JOB_ID of the caller: '' outside a Slurm job
    args: str


class CommandLog:
    """Wrappers of ``commands``, first on PATH, and the log they append to."""

    def __init__(self, directory: Path, commands: Sequence[str]) -> None:
        self.path = directory / 'commands.log'
        self.path.touch()
        self.bin = directory / 'bin'
        self.bin.mkdir()
        self.real: Dict[str, str] = {}
        for name in commands:
            real = shutil.which(name)
            if real is None:
                raise SystemExit(f'{name} is not on PATH')
            self.real[name] = real
            wrapper = self.bin / name
            wrapper.write_text(
                '#!/bin/sh\n'
                f'printf \'%s\\t%s\\t%s\\t%s\\n\' "$(date +%s.%N)" {name} "${{SLURM_JOB_ID-}}" '
                f'"$*" >>{shlex.quote(str(self.path))}\n'
                f'exec {shlex.quote(real)} "$@"\n')
            wrapper.chmod(0o755)
        os.environ['PATH'] = f'{self.bin}{os.pathsep}{os.environ.get("PATH", "")}'

    def calls(self, command: Optional[str] = None, start: float = 0.0,
              end: float = float('inf')) -> List[Call]:
        """The logged calls (of ``command``, from ``start`` to ``end``), in time order."""
        found = []
        for line in self.path.read_text().splitlines():
            stamp, name, job_id, args = (line.split('\t', 3) + ['', '', ''])[:4]
            call = Call(float(stamp), name, job_id, args)
            if (command is None or name == command) and start <= call.time <= end:
                found.append(call)
        return sorted(found, key=lambda call: call.time)

    def run_real(self, *argv: str) -> 'subprocess.CompletedProcess[str]':
        """Run a wrapped command without logging it (the benchmark's own looks)."""
        return subprocess.run([self.real.get(argv[0], argv[0]), *argv[1:]],
                              capture_output=True, text=True, timeout=120)

    def others_busy_cpus(self, mine: str) -> int:
        """CPUs held right now by running jobs whose name does not start with ``mine`` (other
        people's jobs on the shared cluster), asked without logging."""
        shown = self.run_real('squeue', '--noheader', '--states=RUNNING', '--format=%C|%j')
        return sum(int(line.split('|')[0]) for line in shown.stdout.splitlines()
                   if '|' in line and not line.split('|', 1)[1].startswith(mine))


def most_in_window(times: Sequence[float], width: float = 1.0) -> int:
    """The most of ``times`` in any window (t - width, t]."""
    ordered = sorted(times)
    most, first = 0, 0
    for last, moment in enumerate(ordered):
        while ordered[first] <= moment - width:
            first += 1
        most = max(most, last - first + 1)
    return most


def gaps(times: Sequence[float]) -> List[float]:
    """The time between each two consecutive ``times``."""
    ordered = sorted(times)
    return [later - earlier for earlier, later in zip(ordered, ordered[1:])]



def cluster_cpus() -> int:
    """The CPUs the cluster's nodes advertise (at most that many one-CPU jobs run at once)."""
    shown = subprocess.run(['sinfo', '--noheader', '--Node', '--format=%c'],
                           capture_output=True, text=True, timeout=30)
    return sum(int(word) for word in shown.stdout.split() if word.isdigit())


def slurm_limits() -> Dict[str, str]:
    """MaxArraySize, MaxJobCount and MinJobAge of the cluster (``scontrol show config``)."""
    shown = subprocess.run(['scontrol', 'show', 'config'], capture_output=True, text=True,
                           timeout=30).stdout
    limits = {}
    for line in shown.splitlines():
        key, _, value = line.partition('=')
        if key.strip() in ('MaxArraySize', 'MaxJobCount', 'MinJobAge'):
            limits[key.strip()] = value.strip()
    return limits


def aligned(rows: Sequence[Sequence[str]]) -> str:
    """``rows`` of cells as a plain-text table, each column as wide as its widest cell."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return '\n'.join('  '.join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
                     for row in rows)
