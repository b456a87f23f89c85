"""A fake ``srun``, ``aprun``, ``jsrun`` or ``mpirun``: records its argv, runs ranks locally.

Installed with `install`, as a script named after the launcher it imitates
(``fake-openmpi-mpirun`` and ``fake-mpich-mpirun`` imitate the two mpirun flavours and
answer ``--version`` like them). It:

- appends its argv (launcher name first) as one JSON line to ``$FAKE_LAUNCHER_RECORD``;
- if ``FAKE_LAUNCHER_FAIL`` is set, prints ``<name>: error: <its value>`` to stderr and
  exits 1 without starting anything, like a launcher refused by the resource manager;
- otherwise reads the process count from ``-n N``, treats the words up to the first one not
  starting with ``-`` as options (``-x VALUE``, ``--x=VALUE``, ``--flag`` or one of the
  mpirun options in `LONG_OPTIONS_WITH_VALUE`), starts that many copies of
  the remaining command in parallel with the launcher's rank variable set, and exits with
  the highest exit code of the copies.
"""

import json
import os
import pathlib
import shlex
import subprocess
import sys
from typing import List, Tuple

RANK_VARIABLES = {'srun': 'SLURM_PROCID', 'aprun': 'ALPS_APP_PE', 'jsrun': 'JSM_NAMESPACE_RANK',
                  'fake-openmpi-mpirun': 'OMPI_COMM_WORLD_RANK',
                  'fake-mpich-mpirun': 'PMI_RANK'}
VERSIONS = {'fake-openmpi-mpirun': 'mpirun (Open MPI) 4.1.4',
            'fake-mpich-mpirun': 'HYDRA build details:\n    Version: 4.0.2'}
LONG_OPTIONS_WITH_VALUE = {'--map-by', '--hostfile'}


def install(bin_directory: pathlib.Path, name: str, behaves_as: str = '') -> pathlib.Path:
    """Put an executable ``name`` in ``bin_directory`` that runs this double as ``behaves_as``
    (by default ``name``)."""
    bin_directory.mkdir(parents=True, exist_ok=True)
    path = bin_directory / name
    command = [sys.executable, __file__, behaves_as or name]
    path.write_text(f'#!/bin/sh\nexec {shlex.join(command)} "$@"\n')
    path.chmod(0o755)
    return path


def split_options(words: List[str]) -> Tuple[int, List[str]]:
    """The ``-n`` process count and the command that follows the options."""
    count = 1
    index = 0
    while index < len(words) and words[index].startswith('-'):
        if words[index].startswith('--') and words[index] not in LONG_OPTIONS_WITH_VALUE:
            index += 1
            continue
        if words[index] == '-n':
            count = int(words[index + 1])
        index += 2
    return count, words[index:]


def main() -> int:
    name, words = sys.argv[1], sys.argv[2:]
    record = os.environ.get('FAKE_LAUNCHER_RECORD')
    if record:
        with open(record, 'a', encoding='utf-8') as stream:
            stream.write(json.dumps([name, *words]) + '\n')
    if words == ['--version']:
        print(VERSIONS.get(name, f'{name} (fake)'))
        return 0
    failure = os.environ.get('FAKE_LAUNCHER_FAIL')
    if failure:
        print(f'{name}: error: {failure}', file=sys.stderr)
        return 1
    count, command = split_options(words)
    copies = [subprocess.Popen(command, env={**os.environ, RANK_VARIABLES[name]: str(rank)})
              for rank in range(count)]
    return max(copy.wait() for copy in copies)


if __name__ == '__main__':
    sys.exit(main())
