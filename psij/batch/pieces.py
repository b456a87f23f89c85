"""The pieces every scheduler module is built from, written once.

A scheduler module (``executors/slurm.py``...) keeps only what differs between schedulers; what
they all need is here:

* `DirectiveQuoting`: how a value is written in one scheduler's directive lines (``#SBATCH``,
  ``#$``, ``#BSUB``, ``#PBS``), or refused naming the field;
* `SubmitErrors`: which refusals of the submit command are about a field of the job, and which
  are transient;
* `require_resource_spec`: the guard every scheduler's script starts with;
* `clock_time`, `clock_seconds`, `whole_seconds`, `mebibytes`: time and memory as directives
  and messages write them;
* `signal_name` and `current_user`.
"""

import math
import os
import pwd
import re
import signal
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence, Tuple, Union

from psij.exceptions import InvalidJobException, SubmitException
from psij.job_spec import JobSpec
from psij.resource_spec import ResourceSpecV1
from psij.transport import CommandResult

#: Values every scheduler's directive lines take as they are.
PLAIN_VALUE = re.compile(r'[A-Za-z0-9_.,:/=@%+-]+')
#: Line breaks and NUL end a directive line wherever they are.
LINE_BREAKS: Mapping[str, str] = {'\n': 'a line break', '\r': 'a carriage return',
                                  '\x00': 'a NUL character'}


@dataclass(frozen=True)
class DirectiveQuoting:
    """How one scheduler reads a value back from its directive lines.

    :param line: the directive prefix, for messages (``#SBATCH``).
    :param plain: values written as they are.
    :param unwritable: characters that cannot be written at all, each with its description.
    :param quote: the quote character around other values, or None if the scheduler has no
        quoting that can be trusted (every value that is not plain is then refused).
    :param escaped: characters written with a backslash before them inside the quotes.
    :param allow_empty: False if the empty value cannot be written.
    :param why: why the unwritable characters cannot be written, for messages.
    """

    line: str
    plain: 're.Pattern[str]' = PLAIN_VALUE
    unwritable: Mapping[str, str] = field(default_factory=lambda: dict(LINE_BREAKS))
    quote: Optional[str] = '"'
    escaped: str = ''
    allow_empty: bool = True
    why: str = ''

    def value(self, value: str, field: str) -> str:
        """``value`` written so that the scheduler reads it back verbatim; raises
        `InvalidJobException` naming ``field`` if it cannot be written."""
        if self.plain.fullmatch(value):
            return value
        if self.quote is None:
            raise InvalidJobException(
                f'{field} {value!r} cannot be written in a {self.line} line; use only '
                f'{self.allowed}{self._why}')
        bad = [description for character, description in self.unwritable.items()
               if character in value]
        if not value and not self.allow_empty:
            bad.append('nothing')
        if bad:
            raise InvalidJobException(
                f'{field} {value!r} cannot be written in a {self.line} line: it contains '
                f'{", ".join(bad)}{self._why}')
        for character in self.escaped:
            value = value.replace(character, '\\' + character)
        return f'{self.quote}{value}{self.quote}'

    def optional(self, value: Optional[str], field: str) -> Optional[str]:
        """`value` for a value that may be unset (None or empty: no directive)."""
        return self.value(value, field) if value else None

    def refuse_in_path(self, path: str, characters: str, why: str) -> None:
        """Raise `InvalidJobException` if the work directory ``path``, written in a directive
        line by the executor itself, holds one of ``characters``."""
        found = [character for character in dict.fromkeys(path) if character in characters]
        if found:
            shown = ', '.join(repr(character) for character in found)
            raise InvalidJobException(
                f'work directory {path!r} contains {shown}, which {why}; choose a '
                'work_directory without them')

    @property
    def allowed(self) -> str:
        """The characters of a plain value, for messages."""
        return describe_pattern(self.plain)

    @property
    def _why(self) -> str:
        return f' ({self.why})' if self.why else ''


def describe_pattern(pattern: 're.Pattern[str]') -> str:
    """``letters, digits and _ . , ...`` for a pattern of one character class."""
    match = re.fullmatch(r'\[(.*)\]\+', pattern.pattern)
    if match is None:
        return f'characters matching {pattern.pattern}'
    characters = match.group(1).replace('A-Za-z0-9', '').replace('\\', '')
    return 'letters, digits and ' + ' '.join(characters)


@dataclass(frozen=True)
class SubmitErrors:
    """What the refusals of one scheduler's submit command mean.

    :param command: the command's name, for messages (``sbatch``).
    :param by_field: ``(text in the refusal, field, explanation)``: a refusal containing the
        text (compared in lower case) is about that field of the job.
    :param transient: texts of refusals that may go away if the submission is tried again
        (the controller is unreachable...).
    """

    command: str
    by_field: Sequence[Tuple[str, str, str]]
    transient: Sequence[str]

    def refusal(self, result: CommandResult,
                said: str) -> Union[InvalidJobException, SubmitException]:
        """The exception for a submission that gave no job id; ``said`` is what the command
        printed about it, in one line. `InvalidJobException` naming the field when the
        refusal is about one (only for a command that ran and exited non-zero), else a
        `SubmitException`, transient when the command did not run or the refusal says so."""
        lowered = said.lower()
        if result.returncode is not None and result.returncode != 0:
            for needle, field, explanation in self.by_field:
                if needle.lower() in lowered:
                    return InvalidJobException(
                        f'{field}: {explanation}; {self.command} said: {said}')
        transient = result.returncode is None or any(
            needle in lowered for needle in self.transient)
        return SubmitException(f'{self.command} did not accept the job: {said}',
                               transient=transient)


def require_resource_spec(spec: JobSpec, executor: str) -> ResourceSpecV1:
    """``spec.resources``, which must be a `ResourceSpecV1` for a batch job script."""
    resources = spec.resources
    if not isinstance(resources, ResourceSpecV1):
        raise InvalidJobException(
            f'JobSpec.resources is a {type(resources).__name__}; the {executor} executor '
            'needs a ResourceSpecV1')
    return resources


def whole_seconds(seconds: float, minimum: int = 1) -> int:
    """``seconds`` rounded up, and at least ``minimum``: a limit is never shorter than asked."""
    return max(math.ceil(seconds), minimum)


def clock_time(seconds: int, hour_digits: int = 1) -> str:
    """``H:MM:SS`` (hours may exceed 24; at least ``hour_digits`` digits)."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f'{hours:0{hour_digits}d}:{minutes:02d}:{secs:02d}'


_CLOCK = re.compile(r'(?:(?:(\d*):)?(\d*):)?(\d+)(?:\.\d*)?')


def clock_seconds(text: Optional[str]) -> Optional[int]:
    """Seconds in ``[[H:]M:]S`` (an empty part is 0, a fraction is dropped), or None."""
    if text is None:
        return None
    match = _CLOCK.fullmatch(text.strip())
    if match is None:
        return None
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return (hours * 60 + minutes) * 60 + seconds


def mebibytes(memory: int, parts: int = 1) -> int:
    """``memory`` bytes split over ``parts``, in MiB rounded up (at least 1): a memory limit is
    never lower than asked."""
    return max(math.ceil(memory / parts / 1024 / 1024), 1)


def signal_name(number: int) -> str:
    """``SIGTERM`` for 15; ``signal N`` for a number this Python does not know."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f'signal {number}'


def current_user() -> str:
    """The name of this process's user; the uid as digits if it has no name (some
    containers). Never from the terminal: ``os.getlogin`` fails without one."""
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
