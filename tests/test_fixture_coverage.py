"""Every file under tests/fixtures is read by a test, or it is not there (STYLE.md): a capture
that no test reads cannot say what our parsers make of it.

A file counts as read when a test module that reads its folder (one that builds the path
``'fixtures' / '<folder>'``) names it in a string literal the way the tests build file names:
``'NAME'`` for ``NAME.txt``, ``NAME.stderr.txt`` or ``NAME.json`` when the module builds
``f'{name}.txt'`` (``.stderr.txt``, ``.json``) as its helpers (``captured``, ``sample``,
``fixture_text``) do, or the whole file name (``'ids.txt'``, ``'q2-crlf.sh'``). The READMEs
and the files that are not output (named below, each with why) are left out. Every capture
must also have its row in its folder's README, which says where it came from.
"""

import fnmatch
import functools
import pathlib
import re
from typing import Dict, List, Sequence, Tuple

TESTS = pathlib.Path(__file__).resolve().parent
FIXTURES = TESTS / 'fixtures'

#: Files under tests/fixtures that are not captured output (patterns relative to it) -> why.
NOT_OUTPUT: Dict[str, str] = {
    '*/README.md': 'where each capture came from',
    'sge/capture.sh': 'the script that makes (and remakes) every Grid Engine capture',
    'slurm/scripts/capture-psij-formats.py': 'the script that ran psij\'s own Slurm commands',
    'slurm/scripts/job-*.sh': 'the job bodies the Slurm captures submitted (README job legend)',
    'psij_python/make_fixtures.py': 'the script psij-python ran to write the documents',
}

#: The suffixes a test helper adds to a capture's name.
SUFFIXES = ('.stderr.txt', '.txt', '.json')


def _is_output(relative: str) -> bool:
    return not any(fnmatch.fnmatchcase(relative, pattern) for pattern in NOT_OUTPUT)


def _captures() -> List[pathlib.Path]:
    return sorted(path for path in FIXTURES.rglob('*') if path.is_file()
                  and '__pycache__' not in path.parts
                  and _is_output(path.relative_to(FIXTURES).as_posix()))


@functools.cache
def _readers(folder: str) -> Tuple[str, ...]:
    """The text of the test modules that read ``tests/fixtures/<folder>``."""
    builds_path = re.compile(r"""['"]fixtures['"]\s*/\s*['"]""" + re.escape(folder) + "['\"]")
    texts = [path.read_text(encoding='utf-8') for path in sorted(TESTS.glob('test_*.py'))
             if path.name != pathlib.Path(__file__).name]
    return tuple(text for text in texts if builds_path.search(text))


def _quoted(text: str, name: str) -> bool:
    return re.search(r"""(['"])""" + re.escape(name) + r'\1', text) is not None


def _is_read(path: pathlib.Path, readers: Sequence[str]) -> bool:
    for text in readers:
        if _quoted(text, path.name):
            return True
        for suffix in SUFFIXES:
            if path.name.endswith(suffix):
                stem = path.name[:-len(suffix)]
                builds_name = re.search(r"\}" + re.escape(suffix) + """['"]""", text)
                if builds_name and _quoted(text, stem):
                    return True
                break
    return False


def _stem(path: pathlib.Path) -> str:
    for suffix in SUFFIXES:
        if path.name.endswith(suffix):
            return path.name[:-len(suffix)]
    return path.name


def test_every_capture_is_read_by_a_test() -> None:
    unread: List[str] = []
    for path in _captures():
        folder = path.relative_to(FIXTURES).parts[0]
        if not _is_read(path, _readers(folder)):
            unread.append(path.relative_to(FIXTURES).as_posix())
    assert not unread, (
        f'{len(unread)} files under tests/fixtures are read by no test (a test module that '
        "builds 'fixtures' / '<folder>' names none of them in a string literal); test what "
        'the parser makes of each, or delete it and its README row:\n  ' + '\n  '.join(unread))


def test_every_capture_has_its_row_in_the_readme() -> None:
    missing: List[str] = []
    for path in _captures():
        relative = path.relative_to(FIXTURES)
        readme = (FIXTURES / relative.parts[0] / 'README.md').read_text(encoding='utf-8')
        if not re.search(r'(?<![\w.-])' + re.escape(_stem(path)) + r'(?![\w-])', readme):
            missing.append(relative.as_posix())
    assert not missing, 'no README row says where these came from:\n  ' + '\n  '.join(missing)


def test_the_files_left_out_exist() -> None:
    # An exemption whose file is gone would let a new file of that name in unread.
    every = [path.relative_to(FIXTURES).as_posix() for path in FIXTURES.rglob('*')
             if path.is_file()]
    stale = [pattern for pattern in NOT_OUTPUT
             if not any(fnmatch.fnmatchcase(relative, pattern) for relative in every)]
    assert not stale, f'NOT_OUTPUT names files that do not exist: {stale}'


def test_the_check_sees_an_unread_capture(tmp_path: pathlib.Path) -> None:
    # The rule itself: a name the tests build is read, a longer name that starts alike is not.
    reader = "FIXTURES = HERE / 'fixtures' / 'x'\n" \
             "def captured(name): return (FIXTURES / f'{name}.txt', f'{name}.stderr.txt')\n" \
             "captured('squeue-mixed')\n"
    for name, read in [('squeue-mixed.txt', True), ('squeue-mixed.stderr.txt', True),
                       ('squeue-mixed-later.txt', False), ('squeue.txt', False),
                       ('squeue-mixed.json', False)]:
        assert _is_read(tmp_path / name, [reader]) == read, name
