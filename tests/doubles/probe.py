"""A program run as a test job; it records exactly what it was started with.

Usage: ``probe.py RECORD_DIRECTORY [ARGUMENT]...``

Writes ``RECORD_DIRECTORY/probe-<rank>-<pid>.json`` (rank from ``PSIJ_RANK``, else ``none``)
holding ``argv`` (the arguments after RECORD_DIRECTORY), ``env`` (the whole environment),
``cwd`` and, when ``PROBE_READ_STDIN`` is set, ``stdin``. Prints ``out <rank>`` to stdout and
``err <rank>`` to stderr. Controlled by environment variables:

- ``PROBE_EXIT_CODES``: ``rank=code,rank=code``; other ranks exit 0;
- ``PROBE_DELAYS``: ``rank=seconds,...``: sleep before exiting;
- ``PROBE_BARRIER``: a directory; every copy waits (10 s at most) until
  ``PSIJ_PROCESS_COUNT`` copies have arrived there, which only happens if they run in
  parallel.
"""

import json
import os
import pathlib
import sys
import time
from typing import Any, Dict


def _per_rank(variable: str) -> Dict[str, str]:
    text = os.environ.get(variable, '')
    pairs = [item.split('=', 1) for item in text.split(',') if item]
    return {rank: value for rank, value in pairs}


def _wait_at_barrier(directory: pathlib.Path, rank: str) -> bool:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f'arrived-{rank}').touch()
    expected = int(os.environ['PSIJ_PROCESS_COUNT'])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if len(list(directory.glob('arrived-*'))) >= expected:
            return True
        time.sleep(0.01)
    return False


def main() -> int:
    record_directory = pathlib.Path(sys.argv[1])
    rank = os.environ.get('PSIJ_RANK', 'none')
    record: Dict[str, Any] = {'argv': sys.argv[2:], 'env': dict(os.environ), 'cwd': os.getcwd()}
    if os.environ.get('PROBE_READ_STDIN'):
        record['stdin'] = sys.stdin.read()
    if os.environ.get('PROBE_BARRIER'):
        record['barrier_passed'] = _wait_at_barrier(pathlib.Path(os.environ['PROBE_BARRIER']),
                                                    rank)
    target = record_directory / f'probe-{rank}-{os.getpid()}.json'
    target.write_text(json.dumps(record), encoding='utf-8')
    # One write each, so that lines of parallel copies never interleave mid-line.
    sys.stdout.write(f'out {rank}\n')
    sys.stdout.flush()
    sys.stderr.write(f'err {rank}\n')
    sys.stderr.flush()
    time.sleep(float(_per_rank('PROBE_DELAYS').get(rank, '0')))
    return int(_per_rank('PROBE_EXIT_CODES').get(rank, '0'))


if __name__ == '__main__':
    sys.exit(main())
