"""The record a campaign keeps of each job: ``<logs>/<job>.json``, one JSON object per job.

Keys (docs/many-jobs.md lists them for ``psij campaign info``):

``id`` (the job's number, zero-padded), ``state`` (see `STATES`), ``commands`` (a list of
``{line, command, exit_code}``; ``exit_code`` is null for a command that did not run or whose
end is unknown), ``lines`` (the map lines), ``exit_code``, ``message``, ``failed_line`` (the
map line of the first step that failed), ``native_id``, ``job_id`` (psij's id of the current
submission), ``executor``, ``times`` (``submitted``, ``queued``, ``started``, ``ended``:
seconds since the epoch, or null), ``stdout``, ``stderr``, ``script``, ``result`` (paths in
the logs folder) and ``attempts`` (earlier submissions that provably never reached the
executor: ``{job_id, submitted, outcome}``).
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

#: Every state of a campaign job, in the order counts are shown.
UNSUBMITTED, SUBMITTING, PENDING, RUNNING = 'unsubmitted', 'submitting', 'pending', 'running'
COMPLETED, FAILED = 'completed', 'failed'
STATES = (UNSUBMITTED, SUBMITTING, PENDING, RUNNING, COMPLETED, FAILED)
#: States that take one of the ``--max-running`` slots.
IN_FLIGHT = (SUBMITTING, PENDING, RUNNING)
FINAL = (COMPLETED, FAILED)

TIME_KEYS = ('submitted', 'queued', 'started', 'ended')

#: The fields ``psij campaign info`` can show: top-level keys, and the keys of the objects
#: each holds (a field of a list of objects gives the list of that field, ``commands.line``).
FIELDS: Dict[str, Sequence[str]] = {
    'id': (), 'state': (), 'commands': ('line', 'command', 'exit_code'), 'lines': (),
    'exit_code': (), 'message': (), 'failed_line': (), 'native_id': (), 'job_id': (),
    'executor': (), 'times': TIME_KEYS, 'stdout': (), 'stderr': (), 'script': (),
    'result': (), 'attempts': ('job_id', 'submitted', 'outcome'),
}


@dataclass
class CommandRecord:
    """One command of a job."""

    line: int
    command: str
    exit_code: Optional[int] = None


@dataclass
class Attempt:
    """A submission that was given up because it provably never reached the executor."""

    job_id: str
    submitted: Optional[float]
    outcome: str


@dataclass
class JobRecord:
    """What a campaign knows of one of its jobs (see the module docstring)."""

    id: str
    commands: List[CommandRecord]
    executor: str
    stdout: str
    stderr: str
    script: str
    result: str
    state: str = UNSUBMITTED
    exit_code: Optional[int] = None
    message: Optional[str] = None
    failed_line: Optional[int] = None
    native_id: Optional[str] = None
    job_id: Optional[str] = None
    times: Dict[str, Optional[float]] = field(
        default_factory=lambda: {key: None for key in TIME_KEYS})
    attempts: List[Attempt] = field(default_factory=list)

    @property
    def final(self) -> bool:
        """True once the job completed or failed."""
        return self.state in FINAL

    def to_json(self) -> Dict[str, Any]:
        """The JSON object of the record."""
        return {
            'id': self.id, 'state': self.state,
            'commands': [{'line': command.line, 'command': command.command,
                          'exit_code': command.exit_code} for command in self.commands],
            'lines': [command.line for command in self.commands],
            'exit_code': self.exit_code, 'message': self.message,
            'failed_line': self.failed_line, 'native_id': self.native_id,
            'job_id': self.job_id, 'executor': self.executor, 'times': dict(self.times),
            'stdout': self.stdout, 'stderr': self.stderr, 'script': self.script,
            'result': self.result,
            'attempts': [{'job_id': attempt.job_id, 'submitted': attempt.submitted,
                          'outcome': attempt.outcome} for attempt in self.attempts],
        }

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> 'JobRecord':
        """The record of a JSON object made by `to_json`; KeyError/TypeError/ValueError if
        it is not one."""
        if data['state'] not in STATES:
            raise ValueError(f'unknown state {data["state"]!r}')
        return cls(
            id=str(data['id']),
            commands=[CommandRecord(int(item['line']), str(item['command']),
                                    _optional_int(item['exit_code']))
                      for item in data['commands']],
            executor=str(data['executor']), stdout=str(data['stdout']),
            stderr=str(data['stderr']), script=str(data['script']),
            result=str(data['result']), state=str(data['state']),
            exit_code=_optional_int(data['exit_code']), message=data['message'],
            failed_line=_optional_int(data['failed_line']), native_id=data['native_id'],
            job_id=data['job_id'],
            times={key: data['times'].get(key) for key in TIME_KEYS},
            attempts=[Attempt(str(item['job_id']), item['submitted'], str(item['outcome']))
                      for item in data['attempts']])


def _optional_int(value: Any) -> Optional[int]:
    return None if value is None else int(value)


class UnknownField(ValueError):
    """A field ``psij campaign info`` does not know; the message lists the known ones."""


def check_field(path: str) -> None:
    """Raise `UnknownField` unless ``path`` (``state``, ``times.ended``...) is a field."""
    top, _, rest = path.partition('.')
    if top not in FIELDS:
        raise UnknownField(f'unknown field {path!r}; fields: {", ".join(FIELDS)} (and '
                           + ', '.join(f'{key}.{sub}' for key, subs in FIELDS.items()
                                       for sub in subs[:1]) + '...)')
    if rest and rest not in FIELDS[top]:
        allowed = ', '.join(f'{top}.{sub}' for sub in FIELDS[top]) or f'none ({top} has no ' \
                                                                      'subfields)'
        raise UnknownField(f'unknown field {path!r}; subfields of {top}: {allowed}')


def field_value(document: Dict[str, Any], path: str) -> Any:
    """The value of a checked field of a record's JSON object (a subfield of a list of
    objects is the list of its values)."""
    top, _, rest = path.partition('.')
    value = document.get(top)
    if not rest:
        return value
    if isinstance(value, list):
        return [item.get(rest) for item in value if isinstance(item, dict)]
    return value.get(rest) if isinstance(value, dict) else None
