"""What the tests of `psij.functions` run as jobs, and the fake Pythons they run it with.

The functions here are pickled by reference (this module is importable on the node because
the runner puts the submitter's ``sys.path`` entries on its own), as a user's ``tasks.py``
would be; the tests that need functions pickled by value (lambdas, closures of ``__main__``)
run a script of their own.
"""

import os
import pathlib
import stat
import sys
import time
from typing import List

#: Seconds a job waits for a file a test creates before it gives up.
PATIENCE = 120.0


def square(x: int) -> int:
    return x * x


def add(a: int, b: int) -> int:
    return a + b


def slow_identity(x: int, seconds: float) -> int:
    time.sleep(seconds)
    return x


def fail_deeply(text: str) -> None:
    """Raises ValueError two frames down, so the traceback names both."""
    _check(text)


def _check(text: str) -> None:
    raise ValueError(f'bad value: {text}')


def wait_for(path: str, value: int = 0) -> int:
    """Waits (at most `PATIENCE`) until ``path`` exists, then returns ``value``."""
    deadline = time.monotonic() + PATIENCE
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f'{path} never appeared')
        time.sleep(0.05)
    return value


def touch_and_sleep(started: str, seconds: float) -> str:
    pathlib.Path(started).touch()
    time.sleep(seconds)
    return 'slept'


def running_together(directory: str, x: int) -> int:
    """How many calls of this function in ``directory`` run while this one does (itself
    included): each marks itself running there for 1.5 s."""
    mark = pathlib.Path(directory) / f'{x}.running'
    mark.touch()
    seen = 0
    for _ in range(30):
        seen = max(seen, len(list(pathlib.Path(directory).glob('*.running'))))
        time.sleep(0.05)
    mark.unlink()
    return seen


def variable(name: str) -> str:
    """The job's own environment variable ``name`` ('' if unset)."""
    return os.environ.get(name, '')


def talk(text: str) -> List[int]:
    print(f'to stdout: {text}')
    print(f'to stderr: {text}', file=sys.stderr)
    return [os.getpid()]


_SITECUSTOMIZE = {
    # sys.version_info as a Python 3.7.1 would have it: all the runner looks at.
    'version': 'import sys\nsys.version_info = (3, 7, 1, "final", 0)\n',
    # A Python where `import cloudpickle` fails, as on a node without it.
    'no-cloudpickle': (
        'import sys\n'
        'class _Hide:\n'
        '    def find_spec(self, name, path=None, target=None):\n'
        '        if name == "cloudpickle" or name.startswith("cloudpickle."):\n'
        '            raise ImportError("No module named \'cloudpickle\'")\n'
        '        return None\n'
        'sys.meta_path.insert(0, _Hide())\n'),
}


def fake_python(directory: pathlib.Path, kind: str) -> pathlib.Path:
    """A ``python`` script that runs this interpreter with a ``sitecustomize`` that makes it
    look like another Python (``kind``: ``version`` or ``no-cloudpickle``)."""
    site = directory / f'site-{kind}'
    site.mkdir(parents=True)
    (site / 'sitecustomize.py').write_text(_SITECUSTOMIZE[kind])
    script = directory / f'python-{kind}'
    script.write_text(f'#!/bin/sh\nPYTHONPATH={site} exec {sys.executable} "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script
