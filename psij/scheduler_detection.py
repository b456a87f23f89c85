"""The executor name ``auto``: which batch scheduler this machine (or an SSH host) has.

Each scheduler is probed by commands that both exist and need its controller to answer, in
this order; the first that answers wins, else ``local``:

1. Slurm: ``scontrol ping`` says the controller ``is UP``;
2. LSF: ``bparams -a`` answers (mbatchd is up);
3. Grid Engine: ``qstat -help`` names a Grid Engine (SGE, UGE, OGS, AGE...) and ``qconf
   -sss`` answers (the qmaster is up);
4. PBS Pro or Torque: ``qstat -B -f`` answers; its ``pbs_version`` tells which (PBS Pro's
   versions are 13 and up, Torque's below; no version at all: PBS Pro).

A command that is missing or does not answer within `PROBE_TIMEOUT` counts as "not this
one". The parsing is pure (`verdict`); `detect` runs the probes through a transport, so
``auto`` over ``ssh://host`` asks that host.
"""

import re
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple

from psij.transport import CommandResult, LocalTransport, Transport

#: Seconds each probe command may take.
PROBE_TIMEOUT = 5.0

#: The probes of each scheduler, in the order they are tried.
PROBES: List[Tuple[str, List[List[str]]]] = [
    ('slurm', [['scontrol', 'ping']]),
    ('lsf', [['bparams', '-a']]),
    ('sge', [['qstat', '-help'], ['qconf', '-sss']]),
    ('pbs', [['qstat', '-B', '-f']]),
]

_GRID_ENGINE_BANNER = re.compile(
    r'^\s*(SGE|UGE|OGS|OGE|AGE|GE|Son of Grid Engine|Univa Grid Engine|Altair Grid Engine|'
    r'Open Grid Scheduler)\b')
_PBS_VERSION = re.compile(r'^\s*pbs_version\s*=\s*([0-9]+)', re.MULTILINE)
#: PBS Pro numbered its releases from 13 (then years: 2020.1...); Torque stayed below 8.
_FIRST_PBS_PRO_MAJOR = 13


@dataclass(frozen=True)
class Detection:
    """What ``auto`` picks: the executor ``name`` and why (``reason``), with what every probe
    that ran said (``probes``: the command line and its answer in a few words)."""

    name: str
    reason: str
    probes: List[Tuple[str, str]] = field(default_factory=list)


def _said(result: CommandResult) -> str:
    """A command's answer in a few words (its first line, or why there was none)."""
    if result.returncode is None:
        return result.stderr.strip() or 'no answer'
    text = (result.stdout.strip() or result.stderr.strip()).splitlines()
    first = text[0].strip() if text else ''
    return f'exit {result.returncode}' + (f': {first[:100]}' if first else '')


def verdict(scheduler: str, results: Sequence[CommandResult]) -> Optional[Tuple[str, str]]:
    """The executor name and the reason, if ``results`` (of the scheduler's `PROBES`, in
    order, stopping at the first that failed) show ``scheduler`` answering; else None."""
    if not results or any(result.returncode != 0 for result in results):
        return None
    first = results[0]
    if scheduler == 'slurm':
        if ' is UP' not in first.stdout:
            return None
        return 'slurm', f'scontrol ping: {first.stdout.strip().splitlines()[0]}'
    if scheduler == 'lsf':
        return 'lsf', 'bparams -a answered (LSF mbatchd is up)'
    if scheduler == 'sge':
        banner = first.stdout.strip().splitlines()[0] if first.stdout.strip() else ''
        if len(results) < 2 or not _GRID_ENGINE_BANNER.match(banner):
            return None
        return 'sge', f'qstat -help names {banner.strip()!r} and qconf -sss answered'
    if scheduler == 'pbs':
        version = _PBS_VERSION.search(first.stdout)
        if 'Server:' not in first.stdout:
            return None
        if version is None:
            return 'pbs', 'qstat -B -f answered without a pbs_version: taken as PBS Pro'
        major = int(version.group(1))
        name = 'pbs' if major >= _FIRST_PBS_PRO_MAJOR else 'torque'
        flavour = 'PBS Pro' if name == 'pbs' else 'Torque'
        return name, f'qstat -B -f answered, pbs_version {major}: {flavour}'
    return None


def detect(transport: Optional[Transport] = None,
           run: Optional[Callable[[List[str]], CommandResult]] = None) -> Detection:
    """Probe for each scheduler of `PROBES` through ``transport`` (this machine by default);
    the first that answers, else ``local`` (on this machine only: over SSH, ValueError)."""
    where: Transport = transport or LocalTransport()

    def probe(argv: List[str]) -> CommandResult:
        return where.run(argv, timeout=PROBE_TIMEOUT)

    runner = run or probe
    probes: List[Tuple[str, str]] = []
    for scheduler, commands in PROBES:
        results: List[CommandResult] = []
        for argv in commands:
            result = runner(argv)
            probes.append((' '.join(argv), _said(result)))
            results.append(result)
            if result.returncode != 0:
                break
        found = verdict(scheduler, results)
        if found is not None:
            return Detection(found[0], found[1], probes)
    if not isinstance(where, LocalTransport):
        raise ValueError(f'executor auto: no batch scheduler answers on {where.key} '
                         f'(tried: {"; ".join(f"{c} -> {a}" for c, a in probes)})')
    return Detection('local', 'no batch scheduler answers here (Slurm, LSF, Grid Engine, '
                              'PBS Pro, Torque)', probes)
