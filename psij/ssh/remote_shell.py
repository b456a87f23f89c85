"""The POSIX shell scripts an SSH transport sends to the remote side, as pure functions.

Nothing psij sends is parsed by the user's login shell (bash, tcsh, zsh...): the ssh command
line is always the fixed ``exec /bin/sh -s``, and the script comes on its standard input. In
the script every word is single-quoted (`shlex.quote`), and data (a command's standard input,
a file's contents) is base64 in a here-document, so any byte arrives as it was: spaces,
quotes, ``$``, backticks, ``;``, newlines. The remote side needs only a POSIX shell and the
usual tools (``base64``, ``cat``, ``ls``, ``find``, ``mv``): no Python, no psij.
"""

import base64
import pathlib
import shlex
from typing import Dict, Iterable, List, Optional, Sequence

#: The remote command of every connection; the script is its standard input.
REMOTE_COMMAND = 'exec /bin/sh -s'
#: What separates the files of `read_files_script` in its output (a line of its own).
FILE_SEPARATOR = '\x1epsij-file\x1e'
# The end of a here-document: no line of base64 can be this.
_END = 'PSIJ_END_OF_INPUT'


def words(argv: Sequence[str]) -> str:
    """``argv`` as one shell command line, each word quoted."""
    return ' '.join(shlex.quote(word) for word in argv)


def _data(text: str) -> str:
    encoded = base64.encodebytes(text.encode()).decode()
    return f"base64 -d <<'{_END}'\n{encoded}{_END}\n"


def command_script(argv: Sequence[str], stdin: Optional[str]) -> str:
    """Run ``argv`` with ``stdin`` as its standard input (none: /dev/null), and exit with its
    status."""
    if stdin is None:
        return f'{words(argv)} </dev/null\n'
    # The here-document feeds base64; the pipe's status is the command's.
    return _data(stdin).replace(f"<<'{_END}'\n", f"<<'{_END}' | {words(argv)}\n", 1)


def make_directory_script(path: pathlib.PurePath, mode: int) -> str:
    """``mkdir -p`` with user-only parents, then the mode."""
    quoted = shlex.quote(str(path))
    return f'umask 077 && mkdir -p -- {quoted} && chmod {mode:o} -- {quoted}\n'


def write_file_script(path: pathlib.PurePath, text: str, mode: int) -> str:
    """Write ``text`` to ``path`` through a temporary file and a rename (readers see the old
    file or the new one, whole)."""
    quoted = shlex.quote(str(path))
    temporary = shlex.quote(f'{path}.psij-tmp')
    return ('umask 077 && ' + _data(text).replace(
        f"<<'{_END}'\n", f"<<'{_END}' >{temporary} && chmod {mode:o} -- {temporary} && "
                         f'mv -f -- {temporary} {quoted}\n', 1))


def read_files_script(directory: pathlib.PurePath, names: Iterable[str]) -> str:
    """Print, for each of ``names`` that is a file in ``directory``, a `FILE_SEPARATOR` line,
    its name on a line, and its contents; nothing for a missing directory or file."""
    lines = [f'cd -- {shlex.quote(str(directory))} 2>/dev/null || exit 0']
    for name in names:
        quoted = shlex.quote(name)
        lines.append(f"[ -f {quoted} ] && printf '\\n%s\\n%s\\n' {shlex.quote(FILE_SEPARATOR)} "
                     f'{quoted} && cat -- {quoted}')
    lines.append('exit 0')
    return '\n'.join(lines) + '\n'


def parse_read_files(output: str) -> Dict[str, str]:
    """The files of `read_files_script`'s output, by name."""
    files: Dict[str, str] = {}
    chunks = output.split(f'\n{FILE_SEPARATOR}\n')
    for chunk in chunks[1:]:
        name, _, text = chunk.partition('\n')
        files[name] = text
    return files


def list_directory_script(directory: pathlib.PurePath) -> str:
    """The names in ``directory``, one per line (nothing if it does not exist)."""
    return f'cd -- {shlex.quote(str(directory))} 2>/dev/null || exit 0\nls -A\n'


def old_files_script(directory: pathlib.PurePath, age: float) -> str:
    """The regular files of ``directory`` (not below) not modified for ``age`` seconds, one
    name per line."""
    minutes = max(int(age // 60), 0)
    return (f'cd -- {shlex.quote(str(directory))} 2>/dev/null || exit 0\n'
            f'find . ! -name . -prune -type f -mmin +{minutes} -print\n')


def lines_of(output: str) -> List[str]:
    """The non-empty lines of ``output``, without a leading ``./``."""
    return [line[2:] if line.startswith('./') else line
            for line in output.splitlines() if line]
