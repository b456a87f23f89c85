"""The static description of a job: what to run, where, with what input and resources."""

import pathlib
from typing import AbstractSet, Any, Dict, List, Optional, Set, Union

from psij._fields import Checked
from psij.exceptions import InvalidJobException
from psij.job_attributes import JobAttributes
from psij.resource_spec import ResourceSpec, ResourceSpecV1
from psij.staging import StageIn, StageOut, StageOutFlags

PathLike = Union[str, pathlib.Path, None]


def _to_path(value: PathLike) -> Optional[pathlib.Path]:
    return None if value is None else pathlib.Path(value)


def _copy_list(value: Optional[List[str]]) -> List[str]:
    return [] if value is None else list(value)


def _copy_env(value: Optional[Dict[str, Union[str, int]]]) -> Optional[Dict[str, str]]:
    return None if value is None else {key: str(item) for key, item in value.items()}


def _default_resources(value: Optional[ResourceSpec]) -> ResourceSpec:
    return ResourceSpecV1() if value is None else value


def _default_attributes(value: Optional[JobAttributes]) -> JobAttributes:
    return JobAttributes() if value is None else value


def _copy_set(value: Optional[AbstractSet[Any]]) -> Optional[Set[Any]]:
    return None if value is None else set(value)


def _copy_paths(value: Optional[AbstractSet[Union[str, pathlib.Path]]]
                ) -> Optional[Set[pathlib.Path]]:
    return None if value is None else {pathlib.Path(path) for path in value}


def _not_empty_paths(field: str, value: Optional[AbstractSet[Union[str, pathlib.Path]]]
                     ) -> None:
    if value is not None and '' in value:
        raise InvalidJobException(f'{field} holds an empty path; give paths inside the '
                                  "job's directory")


def _normalized(value: StageOutFlags) -> StageOutFlags:
    return value.normalized()


def _path_field(doc: str) -> Checked[Optional[pathlib.Path]]:
    return Checked[Optional[pathlib.Path]](PathLike, doc, convert=_to_path)


class JobSpec:
    """Everything about a job that does not change while it runs.

    Every attribute can be given to the constructor or assigned later; both are type checked.
    Paths may be given as ``str`` or ``pathlib.Path`` and are stored as ``pathlib.Path``.
    Environment values may be given as ``int`` and are stored as ``str``.
    """

    executable = Checked[Optional[str]](
        Optional[str], 'The program to run: an absolute path or a name found on PATH.')
    arguments = Checked[List[str]](
        Optional[List[str]], 'Arguments (argv[1:]), passed verbatim.', convert=_copy_list)
    directory = _path_field('Working directory of the job.')
    name = Checked[Optional[str]](Optional[str], 'A label shown by the scheduler.')
    inherit_environment = Checked[bool](
        bool, 'False: the job sees only the variables in `environment`.')
    environment = Checked[Optional[Dict[str, str]]](
        Optional[Dict[str, Union[str, int]]], 'Variables set for the job.', convert=_copy_env)
    stdin_path = _path_field('File read as standard input.')
    stdout_path = _path_field('File that receives standard output.')
    stderr_path = _path_field('File that receives standard error.')
    resources = Checked[ResourceSpec](
        Optional[ResourceSpec], 'Nodes, processes, cores and memory.', convert=_default_resources)
    attributes = Checked[JobAttributes](
        Optional[JobAttributes], 'Wall time, queue, account and custom attributes.',
        convert=_default_attributes)
    pre_launch = _path_field('Script sourced once on the lead node before launching.')
    post_launch = _path_field('Script sourced once on the lead node after all processes end.')
    launcher = Checked[Optional[str]](
        Optional[str], "Launcher name ('single' when None, 'mpirun', 'srun', ...).")
    stage_in = Checked[Optional[Set[StageIn]]](
        Optional[AbstractSet[StageIn]], 'Files put in place before the job runs.',
        convert=_copy_set)
    stage_out = Checked[Optional[Set[StageOut]]](
        Optional[AbstractSet[StageOut]], 'Files taken out after the job ends.',
        convert=_copy_set)
    cleanup = Checked[Optional[Set[pathlib.Path]]](
        Optional[AbstractSet[Union[str, pathlib.Path]]],
        "Paths inside the job's directory removed after stage-out.", convert=_copy_paths,
        validate=_not_empty_paths)
    cleanup_flags = Checked[StageOutFlags](
        StageOutFlags, 'When cleanup happens (none of the conditions: ALWAYS).',
        convert=_normalized)

    def __init__(self, executable: Optional[str] = None, arguments: Optional[List[str]] = None,
                 directory: PathLike = None, name: Optional[str] = None,
                 inherit_environment: bool = True,
                 environment: Optional[Dict[str, Union[str, int]]] = None,
                 stdin_path: PathLike = None, stdout_path: PathLike = None,
                 stderr_path: PathLike = None, resources: Optional[ResourceSpec] = None,
                 attributes: Optional[JobAttributes] = None, pre_launch: PathLike = None,
                 post_launch: PathLike = None, launcher: Optional[str] = None,
                 stage_in: Optional[AbstractSet[StageIn]] = None,
                 stage_out: Optional[AbstractSet[StageOut]] = None,
                 cleanup: Optional[AbstractSet[Union[str, pathlib.Path]]] = None,
                 cleanup_flags: StageOutFlags = StageOutFlags.ALWAYS) -> None:
        self.executable = executable
        self.arguments = arguments
        self.directory = directory
        self.name = name
        self.inherit_environment = inherit_environment
        self.environment = environment
        self.stdin_path = stdin_path
        self.stdout_path = stdout_path
        self.stderr_path = stderr_path
        self.resources = resources
        self.attributes = attributes
        self.pre_launch = pre_launch
        self.post_launch = post_launch
        self.launcher = launcher
        self.stage_in = stage_in
        self.stage_out = stage_out
        self.cleanup = cleanup
        self.cleanup_flags = cleanup_flags

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JobSpec) and vars(self) == vars(other)

    def __repr__(self) -> str:
        shown: Dict[str, Any] = {key: value for key, value in vars(self).items()
                                 if value not in (None, [], True)
                                 and not (key == 'cleanup_flags'
                                          and value == StageOutFlags.ALWAYS)}
        return 'JobSpec(' + ', '.join(f'{key}={value!r}' for key, value in shown.items()) + ')'
