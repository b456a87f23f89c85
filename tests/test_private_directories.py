"""Every directory level psij creates is user-only (0700); levels that existed keep their mode.

The umask is set to the common 022 for each test, under which ``mkdir(parents=True)`` would
give the parents 0755.
"""

import os
import pathlib
import stat
from typing import Iterator

import pytest

from psij import JobExecutor, JobExecutorConfig
from psij.private_directories import make_private_directory


@pytest.fixture(autouse=True)
def common_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: pathlib.Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_default_work_directory_and_its_new_parents_are_user_only(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / 'home'
    home.mkdir(mode=0o755)
    os.chmod(home, 0o751)
    monkeypatch.setenv('HOME', str(home))
    JobExecutor.get_instance('local', config=JobExecutorConfig())
    modes = {name: oct(_mode(home / name)) for name in ('.psij', '.psij/work', '.psij/work/local')}
    assert modes == dict.fromkeys(modes, oct(0o700))
    assert _mode(home) == 0o751, 'a level that existed keeps its mode'


def test_a_deep_work_directory_is_created_user_only_at_every_level(
        tmp_path: pathlib.Path) -> None:
    os.chmod(tmp_path, 0o755)
    work = tmp_path / 'a' / 'b' / 'c'
    JobExecutor.get_instance('local', config=JobExecutorConfig(work_directory=work))
    for level in (tmp_path / 'a', tmp_path / 'a' / 'b', work, work / 'local'):
        assert _mode(level) == 0o700, level
    assert _mode(tmp_path) == 0o755


def test_existing_levels_keep_their_mode_but_the_directory_itself_is_set(
        tmp_path: pathlib.Path) -> None:
    work = tmp_path / 'shared'
    (work / 'local').mkdir(parents=True)
    os.chmod(work, 0o750)
    os.chmod(work / 'local', 0o755)
    JobExecutor.get_instance('local', config=JobExecutorConfig(work_directory=work))
    assert (_mode(work), _mode(work / 'local')) == (0o750, 0o700)


def test_levels_are_user_only_even_under_a_umask_that_takes_the_owners_rights(
        tmp_path: pathlib.Path) -> None:
    os.umask(0o277)
    path = tmp_path / 'x' / 'y'
    make_private_directory(path)
    assert (_mode(tmp_path / 'x'), _mode(path)) == (0o700, 0o700)


def test_a_file_in_the_way_is_an_error(tmp_path: pathlib.Path) -> None:
    (tmp_path / 'file').write_text('')
    with pytest.raises(OSError):
        make_private_directory(tmp_path / 'file' / 'sub')
    with pytest.raises(OSError):
        make_private_directory(tmp_path / 'file')
