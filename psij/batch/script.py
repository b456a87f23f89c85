"""Pure helpers for job scripts: what goes into one, quoting, and the common body.

Every batch job script has two parts: the scheduler's directive lines (``#SBATCH ...``),
written by the scheduler's own template, and the common body (`render_job_body`), which
records the start and exit-code markers, changes to the job directory, sets the environment
and standard streams, and runs the launcher's command.
"""

import functools
import importlib.resources
import pathlib
import re
import shlex
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import pystache

from psij.batch.staging_plan import StagingPlan
from psij.batch.staging_script import staging_context
from psij.dependencies import DependencyCondition
from psij.exceptions import InvalidJobException
from psij.job import Job
from psij.job_array import INDEX_TOKEN, INDEX_VARIABLE
from psij.job_spec import JobSpec

_SHELL_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*')
_JOB_NAME_UNSAFE = re.compile(r'[^A-Za-z0-9_.+-]')
JOB_NAME_MAX_LENGTH = 64


@dataclass(frozen=True)
class ArraySlice:
    """Elements of a `psij.JobArray` submitted as one native array.

    :param array_id: psij's id of the array (element ``i`` is job ``<array_id>-<i>``).
    :param offset: the index (``PSIJ_ARRAY_INDEX``) of the slice's first element.
    :param count: how many elements; the native array's indices run from the scheduler's
        first index, ``count`` of them (so a long array can be split into several).
    :param throttle: at most this many running at once (None: no limit).
    """

    array_id: str
    offset: int
    count: int
    throttle: Optional[int] = None


@dataclass(frozen=True)
class NativeDependency:
    """The job runs after the scheduler's jobs ``native_ids``, as ``condition`` says.

    :param exit_markers: ``(native id, path)`` of the exit-code marker of each predecessor
        that is a batch job (``<its executor's work directory>/<native id>.ec``), for a
        scheduler that cannot tell how a job ended (Grid Engine's ``-hold_jid`` waits for any
        end): its job script reads them. Empty when none is known; others ignore it.
    """

    condition: DependencyCondition
    native_ids: Tuple[str, ...]
    exit_markers: Tuple[Tuple[str, pathlib.PurePath], ...] = ()


@dataclass(frozen=True)
class ScriptInputs:
    """Everything a job script is made from.

    :param job: the job (its spec is set: the executor checked it); for an array, its first
        element.
    :param marker_directory: where the job writes its markers (the executor's work directory).
    :param launch_command: the launcher's argv for the job (`INDEX_TOKEN` in it, for an
        array, stands for the element's index).
    :param launcher_log: the file the launcher writes its own messages to.
    :param array: for an array, the elements this script runs (one native array).
    :param dependencies: what the scheduler must make the job wait for.
    :param staging: where the job's staged files are on each side, and its spec as the
        job's side sees it (`psij.batch.staging_plan`); None: as the spec says.
    """

    job: Job
    marker_directory: pathlib.Path
    launch_command: List[str]
    launcher_log: pathlib.Path
    array: Optional[ArraySlice] = None
    dependencies: Tuple[NativeDependency, ...] = ()
    staging: Optional[StagingPlan] = None

    @property
    def job_id(self) -> str:
        """The PSI/J job id (a uuid), used in file names known before submission; for an
        array, ``<array id>-{PSIJ_ARRAY_INDEX}``."""
        if self.array is not None:
            return f'{self.array.array_id}-{INDEX_TOKEN}'
        return self.job.id

    @property
    def script_stem(self) -> str:
        """The name of the job script without its suffix: the job's id, or for an array
        ``<array id>-<offset>`` (each slice of a split array its own), so that one script
        names one submission (`psij.batch.lost_submission`)."""
        if self.array is not None:
            return f'{self.array.array_id}-{self.array.offset}'
        return self.job.id

    @property
    def spec(self) -> JobSpec:
        """The job's specification; for an array, the array's (with `INDEX_TOKEN`); with a
        `staging` plan, as the job's side sees it."""
        if self.staging is not None:
            return self.staging.job_side_spec
        array = self.job.array
        spec = array.spec if self.array is not None and array is not None else self.job.spec
        if spec is None:
            raise InvalidJobException('Job.spec is None; give the job a JobSpec')
        return spec


def shell_quote(value: str) -> str:
    """``value`` as one shell word that bash reads back verbatim."""
    return shlex.quote(value)


def shell_word(value: str) -> str:
    """``value`` as one shell word, `INDEX_TOKEN` in it standing for the element's index
    (``$PSIJ_ARRAY_INDEX``, set by the job body of an array); verbatim otherwise."""
    if INDEX_TOKEN not in value:
        return shlex.quote(value)
    pieces = value.split(INDEX_TOKEN)
    return f'"${INDEX_VARIABLE}"'.join(shlex.quote(piece) if piece else '' for piece in pieces)


def job_name(spec: JobSpec) -> str:
    """The name shown by the scheduler: ``spec.name``, else the executable's base name.

    Characters other than letters, digits and ``_.+-`` become ``_`` and the name is cut at
    `JOB_NAME_MAX_LENGTH` characters, since schedulers differ in what they accept there.
    """
    name = spec.name or pathlib.PurePath(spec.executable or 'job').name or 'job'
    return _JOB_NAME_UNSAFE.sub('_', name)[:JOB_NAME_MAX_LENGTH]


def custom_options(attributes: Optional[Mapping[str, object]], prefix: str,
                   check_option: Callable[[str, str], None]
                   ) -> Iterator[Tuple[str, str, Union[str, bool]]]:
    """The ``PREFIX.OPTION`` custom attributes that are set, as ``(OPTION, field, value)``.

    ``check_option(option, field)`` sees every such key (set or not) and raises
    `InvalidJobException` for an option the scheduler must not get. A value of None or False
    leaves the option out; True is returned as True (a bare flag); str, int and float as
    text; anything else is refused naming the field. Keys of other prefixes are ignored.
    """
    for key, value in (attributes or {}).items():
        if not key.startswith(prefix + '.'):
            continue
        option = key[len(prefix) + 1:]
        field = f'JobAttributes.custom_attributes[{key!r}]'
        check_option(option, field)
        if value is None or value is False:
            continue
        if value is True:
            yield option, field, True
        elif isinstance(value, (str, int, float)):
            yield option, field, str(value)
        else:
            raise InvalidJobException(
                f'{field} is a {type(value).__name__}; allowed: str, int, float or bool')


def with_prefix(attributes: Optional[Mapping[str, object]], prefix: str,
                aliases: Sequence[str]) -> Optional[Dict[str, object]]:
    """``attributes`` with the keys of the other names of an executor (``aliases``, e.g.
    ``uge`` for ``sge``, or psij-python's ``pbs`` for ``torque``) written with ``prefix``;
    raises `InvalidJobException` if one option is given under two of the names."""
    if attributes is None:
        return None
    renamed: Dict[str, object] = {}
    given_as: Dict[str, str] = {}
    for original, value in attributes.items():
        name, dot, option = original.partition('.')
        key = f'{prefix}.{option}' if dot and name in aliases else original
        if key in given_as:
            raise InvalidJobException(
                f'JobAttributes.custom_attributes: {given_as[key]!r} and {original!r} name the '
                f'same option ({key}); give it once')
        given_as[key] = original
        renamed[key] = value
    return renamed


def render_template(text: str, context: Dict[str, object]) -> str:
    """Render a mustache template with no HTML escaping; a missing key is an error."""
    renderer = pystache.Renderer(escape=lambda value: value, missing_tags='strict')
    return str(renderer.render(text, context))


@functools.cache
def read_template(package: str, name: str) -> str:
    """The text of template ``name`` shipped in ``package``."""
    return importlib.resources.files(package).joinpath(name).read_text()


def _environment(spec: JobSpec) -> List[Dict[str, str]]:
    variables: List[Dict[str, str]] = []
    for name, value in (spec.environment or {}).items():
        if not _SHELL_NAME.fullmatch(name):
            raise InvalidJobException(
                f'JobSpec.environment: {name!r} is not a valid variable name for a batch job; '
                'use letters, digits and _ (not starting with a digit)')
        variables.append({'name': name, 'value': shell_word(value)})
    return variables


def _stream(path: Optional[pathlib.Path]) -> str:
    return shell_word(str(path)) if path is not None else '/dev/null'


@dataclass(frozen=True)
class ElementNames:
    """How an array element's script names itself: ``native_id`` is a shell expression of
    the element's native id (``${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}``), the markers'
    name; ``index_variable`` holds its native index, counted from ``first_index``."""

    native_id: str
    index_variable: str
    first_index: int


def render_job_body(inputs: ScriptInputs, job_id_variable: str,
                    element: Optional[ElementNames] = None) -> str:
    """The common body of every job script.

    ``job_id_variable`` is the variable holding the scheduler's id of the running job
    (``SLURM_JOB_ID``...); the markers are named after it, and, for an array, after
    ``element``'s native id. The scheduler's template must define a shell function
    ``psij_write_nodefile`` that prints one line per process slot.
    """
    spec = inputs.spec
    directory = str(spec.directory) if spec.directory is not None else None
    if spec.stderr_path is not None and spec.stderr_path == spec.stdout_path:
        stderr_redirection = '2>&1'
    else:
        stderr_redirection = '2>' + _stream(spec.stderr_path)
    streams = ', '.join(f'{field}={str(path)!r}' for field, path in (
        ('stdin_path', spec.stdin_path), ('stdout_path', spec.stdout_path),
        ('stderr_path', spec.stderr_path)) if path is not None)
    command = list(inputs.launch_command)
    if command and '/' not in command[0]:
        # Through env, a bare name is looked up on PATH like exec would: never a builtin of
        # the script's shell (printf, echo, kill...) or one of its functions.
        command = ['env', '--', *command]
    array = inputs.array
    if array is not None and element is None:
        raise InvalidJobException('JobArray: this scheduler cannot run arrays')
    index = None
    if array is not None and element is not None:
        index = (f'$(( {element.index_variable} - {element.first_index} + {array.offset} ))'
                 if element.first_index != array.offset else f'${element.index_variable}')
    context: Dict[str, object] = {
        'marker_directory': shell_quote(str(inputs.marker_directory)),
        'job_id_expression': (element.native_id if array is not None and element is not None
                              else f'"${job_id_variable}"'),
        'array_index': index,
        'psij_job_id': shell_word(inputs.job_id),
        'directory': shell_word(directory) if directory is not None else None,
        'directory_error': shell_quote(
            f'JobSpec.directory {directory!r} cannot be entered on the node'),
        'environment': _environment(spec),
        'launch_command': ' '.join(shell_word(word) for word in command),
        'stdin': _stream(spec.stdin_path),
        'stdout': _stream(spec.stdout_path),
        'stderr_redirection': stderr_redirection,
        'stream_error': shell_quote(
            f'the job\'s standard streams cannot be opened on the node ({streams})'),
        'launcher_log': shell_word(str(inputs.launcher_log)),
        **staging_context(spec, shell_word, inputs.staging),
    }
    return render_template(read_template('psij.batch', 'job_body.mustache'), context)
