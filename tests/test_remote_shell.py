"""The scripts an SSH transport sends (`psij.ssh.remote_shell`), run here by a real POSIX
shell (dash, Debian's /bin/sh) exactly as the remote ``exec /bin/sh -s`` runs them: from its
standard input. Whatever the words and data hold, they arrive verbatim and run nothing."""

import os
import pathlib
import subprocess
from typing import List

from hypothesis import given, settings
from hypothesis import strategies as st

from psij.ssh import remote_shell

NASTY = ['a b', "it's", '"q"', '$HOME', '`touch pwned`', 'x;touch pwned', 'line\nbreak',
         'é ü', '*', '-n', '', '\\', '$(touch pwned)', "'", '#not a comment', '\t']


def sh(script: str, cwd: pathlib.Path) -> 'subprocess.CompletedProcess[bytes]':
    return subprocess.run(['/bin/sh', '-s'], input=script.encode(), capture_output=True,
                          cwd=cwd, timeout=30)


def test_words_arrive_verbatim_and_run_nothing(tmp_path: pathlib.Path) -> None:
    script = remote_shell.command_script(['printf', '%s\\0', *NASTY], None)
    done = sh(script, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().split('\0')[:-1] == NASTY
    assert not (tmp_path / 'pwned').exists()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=['Cs'],
                                               blacklist_characters='\0'), max_size=20),
                min_size=1, max_size=5))
def test_any_words_arrive_verbatim(arguments: List[str]) -> None:
    done = subprocess.run(['/bin/sh', '-s'], capture_output=True, timeout=30, input=(
        remote_shell.command_script(['printf', '%s\\0', *arguments], None).encode()))
    assert done.stdout.decode().split('\0')[:-1] == arguments


def test_standard_input_arrives_byte_for_byte(tmp_path: pathlib.Path) -> None:
    data = "no newline at the end $HOME `x` 'q'\nPSIJ_END_OF_INPUT\n\n\tend"
    done = sh(remote_shell.command_script(['cat'], data), tmp_path)
    assert done.returncode == 0 and done.stdout.decode() == data


def test_the_exit_status_is_the_commands(tmp_path: pathlib.Path) -> None:
    assert sh(remote_shell.command_script(['sh', '-c', 'exit 7'], None), tmp_path).returncode == 7
    assert sh(remote_shell.command_script(['sh', '-c', 'cat >/dev/null; exit 5'], 'x'),
              tmp_path).returncode == 5


def test_files_are_made_written_read_listed_and_found_old(tmp_path: pathlib.Path) -> None:
    directory = tmp_path / 'a dir $x' / 'sub'
    assert sh(remote_shell.make_directory_script(directory, 0o700), tmp_path).returncode == 0
    assert oct((tmp_path / 'a dir $x').stat().st_mode & 0o777) == '0o700'
    text = 'line 1\n`not run`\nno newline'
    assert sh(remote_shell.write_file_script(directory / "it's.ec", text, 0o600),
              tmp_path).returncode == 0
    written = directory / "it's.ec"
    assert written.read_text() == text and oct(written.stat().st_mode & 0o777) == '0o600'
    (directory / 'other').write_text('')
    old = directory / 'old'
    old.write_text('old\n')
    os.utime(old, (1, 1))

    listed = sh(remote_shell.list_directory_script(directory), tmp_path)
    assert set(remote_shell.lines_of(listed.stdout.decode())) == {"it's.ec", 'other', 'old'}
    read = sh(remote_shell.read_files_script(directory, ["it's.ec", 'missing', 'old', 'other']),
              tmp_path)
    assert remote_shell.parse_read_files(read.stdout.decode()) == {
        "it's.ec": text, 'old': 'old\n', 'other': ''}
    found = sh(remote_shell.old_files_script(directory, 3600), tmp_path)
    assert remote_shell.lines_of(found.stdout.decode()) == ['old']


def test_a_missing_directory_is_empty(tmp_path: pathlib.Path) -> None:
    for script in (remote_shell.list_directory_script(tmp_path / 'none'),
                   remote_shell.read_files_script(tmp_path / 'none', ['a']),
                   remote_shell.old_files_script(tmp_path / 'none', 60)):
        done = sh(script, tmp_path)
        assert done.returncode == 0 and done.stdout == b''
