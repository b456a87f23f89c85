"""`psij.batch.evidence.UnchangedDirectories`: a marker directory unchanged since it was read
is not read again, and any change (a marker renamed into place) is seen."""

import os
import pathlib
import time

import pytest

from psij.batch.evidence import UnchangedDirectories
from psij.transport import LocalTransport


def age(directory: pathlib.Path, seconds: float) -> None:
    """Make ``directory`` look last modified ``seconds`` ago."""
    then = time.time() - seconds
    os.utime(directory, (then, then))


def test_an_old_unchanged_directory_is_read_once(tmp_path: pathlib.Path) -> None:
    unchanged, transport = UnchangedDirectories(), LocalTransport()
    age(tmp_path, 10)
    assert not unchanged.skip(transport, tmp_path)  # first time: read
    assert unchanged.skip(transport, tmp_path)
    assert unchanged.skip(transport, tmp_path)
    (tmp_path / '7.ec.tmp').write_text('0\n')
    (tmp_path / '7.ec.tmp').rename(tmp_path / '7.ec')
    assert not unchanged.skip(transport, tmp_path)  # the rename changed it: read


def test_a_directory_changed_just_before_it_was_read_is_read_again(
        tmp_path: pathlib.Path) -> None:
    unchanged, transport = UnchangedDirectories(), LocalTransport()
    (tmp_path / 'x').write_text('')  # modified now: a change in the same tick would not show
    assert not unchanged.skip(transport, tmp_path)
    assert not unchanged.skip(transport, tmp_path)


def test_every_directory_is_read_at_the_full_look_interval(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    unchanged, transport = UnchangedDirectories(), LocalTransport()
    age(tmp_path, 10)
    assert not unchanged.skip(transport, tmp_path)
    assert unchanged.skip(transport, tmp_path)
    monkeypatch.setattr(UnchangedDirectories, 'FULL_LOOK_INTERVAL', 0.0)
    assert not unchanged.skip(transport, tmp_path)


def test_transports_that_cannot_tell_are_always_read(tmp_path: pathlib.Path) -> None:
    class Remote:
        key = 'remote'

    unchanged = UnchangedDirectories()
    age(tmp_path, 10)
    assert not unchanged.skip(Remote(), tmp_path)  # type: ignore[arg-type]
    assert not unchanged.skip(Remote(), tmp_path)  # type: ignore[arg-type]
    assert not unchanged.skip(LocalTransport(), tmp_path / 'missing')
    assert not unchanged.skip(LocalTransport(), tmp_path / 'missing')
