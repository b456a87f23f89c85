"""The oldest Python psij claims to run on, and an interpreter of that version on this machine.

The claim is ``requires-python = ">=X.Y"`` in pyproject.toml; this module is the one place
that reads it and looks for a ``pythonX.Y``. tests/test_packaging.py installs the wheel with
that interpreter and runs real work there; .ci/setup runs this file to say which interpreter
the tests will use, .ci/run to learn the version vermin checks the library against::

    python tests/oldest_python.py            # the interpreter and its version; exit 1 if none
    python tests/oldest_python.py --version  # X.Y

Where it looks, in order: ``pythonX.Y`` on PATH, then pyenv's ``$PYENV_ROOT/versions/X.Y.*``
(``~/.pyenv`` by default; newest patch release first). A candidate counts only if it runs,
says it is X.Y and has ``venv`` and ``ensurepip``: a pyenv shim for a version that is not
selected fails to run, and a Debian Python without python3-venv cannot make a venv.
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys
from typing import List, Optional, Sequence, Tuple

PYPROJECT = pathlib.Path(__file__).resolve().parent.parent / 'pyproject.toml'

Version = Tuple[int, int]

_REQUIRES = re.compile(r'^\s*requires-python\s*=\s*"\s*>=\s*(\d+)\.(\d+)\s*"\s*$', re.M)


def claimed_minimum(pyproject: pathlib.Path = PYPROJECT) -> Version:
    """The X.Y of ``requires-python = ">=X.Y"``; ValueError if it says anything else (a claim
    this module cannot read is a claim nothing checks)."""
    # A regular expression, not tomllib: .ci/run may run this with any Python 3.
    found = _REQUIRES.findall(pyproject.read_text())
    if len(found) != 1:
        raise ValueError(f'{pyproject}: expected one line requires-python = ">=X.Y"')
    major, minor = found[0]
    return int(major), int(minor)


def interpreter_version(path: pathlib.Path) -> Optional[Version]:
    """The X.Y of the interpreter at ``path`` if it runs and can make a venv with pip."""
    try:
        result = subprocess.run(
            [str(path), '-I', '-c',
             'import ensurepip, sys, venv; print("%d %d" % sys.version_info[:2])'],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    fields = result.stdout.split()
    if result.returncode != 0 or len(fields) != 2 or not all(f.isdigit() for f in fields):
        return None
    return int(fields[0]), int(fields[1])


def candidates(version: Version) -> List[pathlib.Path]:
    """Where an interpreter of ``version`` may be, in the order they are tried."""
    name = f'python{version[0]}.{version[1]}'
    found: List[pathlib.Path] = []
    on_path = shutil.which(name)
    if on_path is not None:
        found.append(pathlib.Path(on_path))
    pyenv_root = pathlib.Path(os.environ.get('PYENV_ROOT') or pathlib.Path.home() / '.pyenv')
    release = re.compile(rf'^{version[0]}\.{version[1]}\.(\d+)$')
    releases = []
    if (pyenv_root / 'versions').is_dir():
        for directory in (pyenv_root / 'versions').iterdir():
            match = release.match(directory.name)
            if match:
                releases.append((int(match.group(1)), directory / 'bin' / name))
    found += [path for _, path in sorted(releases, reverse=True)]
    return [path for index, path in enumerate(found) if path not in found[:index]]


def find_interpreter(version: Version) -> Optional[pathlib.Path]:
    """The first of `candidates` that is a working interpreter of ``version``, or None."""
    for path in candidates(version):
        if interpreter_version(path) == version:
            return path
    return None


def main(argv: Sequence[str]) -> int:
    version = claimed_minimum()
    dotted = f'{version[0]}.{version[1]}'
    if list(argv) == ['--version']:
        print(dotted)
        return 0
    if argv:
        print(f'usage: {sys.argv[0]} [--version]', file=sys.stderr)
        return 2
    path = find_interpreter(version)
    if path is None:
        tried = ', '.join(str(candidate) for candidate in candidates(version))
        print(f'no working Python {dotted} (the oldest that requires-python admits) here; '
              f'looked for python{dotted} on PATH and under $PYENV_ROOT/versions; '
              f'{"tried and refused: " + tried if tried else "found none"}', file=sys.stderr)
        return 1
    full = subprocess.run([str(path), '-I', '-c', 'import sys; print(sys.version.split()[0])'],
                          capture_output=True, text=True, timeout=60).stdout.strip()
    print(f'{path} (Python {full})')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
