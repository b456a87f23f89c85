"""What the suite runs against: an executor, a launcher, and the site's settings."""

import re
from dataclasses import dataclass, field
from typing import Dict, Optional

_NAME = re.compile(r'^[A-Za-z0-9_.+-]+$')


@dataclass(frozen=True)
class ExecutorHints:
    """What the suite knows about an executor that the PSI/J API cannot tell it.

    ``hold_attributes``: custom attributes that keep a job QUEUED until it is cancelled
    (None: the executor has no such thing, so "cancel a queued job" does not apply).
    ``duration_limit``: the shortest duration limit, in seconds, the executor can enforce
    (None: it does not enforce durations, and ``no_limit_reason`` says why).
    """

    hold_attributes: Optional[Dict[str, object]] = None
    duration_limit: Optional[float] = 60.0
    no_hold_reason: str = ('the suite knows no way to keep a job of this executor queued; '
                           'pass --hold KEY=VALUE (a custom attribute that holds a job)')
    no_limit_reason: str = 'the executor does not enforce JobAttributes.duration'


# Our own executors; a third-party executor gets the defaults unless told otherwise.
KNOWN_HINTS: Dict[str, ExecutorHints] = {
    'local': ExecutorHints(
        duration_limit=None,
        no_hold_reason='the local executor starts every job at submit; a job is never queued',
        no_limit_reason='the local executor does not enforce JobAttributes.duration: its '
                        'default of 10 minutes would end every longer local job (psij-python '
                        'does not enforce it either)'),
    'slurm': ExecutorHints(hold_attributes={'slurm.hold': True}),
    'sge': ExecutorHints(hold_attributes={'sge.h': True}, duration_limit=5.0),
    'lsf': ExecutorHints(hold_attributes={'lsf.H': True}),
    'pbs': ExecutorHints(hold_attributes={'pbs.h': True}),
    'torque': ExecutorHints(hold_attributes={'torque.h': True}),
}
for _name, _aliases in (('sge', ('gridengine', 'uge')), ('pbs', ('pbspro', 'openpbs')),
                        ('torque', ('pbs_classic',))):
    for _alias in _aliases:
        KNOWN_HINTS[_alias] = KNOWN_HINTS[_name]


@dataclass(frozen=True)
class Target:
    """One run of the suite: ``executor[:launcher]`` plus site settings."""

    executor: str
    launcher: str = 'single'
    url: Optional[str] = None
    queue: Optional[str] = None
    account: Optional[str] = None
    hold_attributes: Optional[Dict[str, object]] = None
    duration_limit: Optional[float] = None
    many_jobs: int = 200
    timeout_scale: float = 1.0
    extra_attributes: Dict[str, object] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``executor:launcher``, as given on the command line."""
        return f'{self.executor}:{self.launcher}'

    def hints(self) -> ExecutorHints:
        """The known hints for the executor, overridden by this target's own settings."""
        known = KNOWN_HINTS.get(self.executor, ExecutorHints())
        hold = self.hold_attributes if self.hold_attributes is not None \
            else known.hold_attributes
        limit = self.duration_limit if self.duration_limit is not None \
            else known.duration_limit
        return ExecutorHints(hold_attributes=hold, duration_limit=limit,
                             no_hold_reason=known.no_hold_reason,
                             no_limit_reason=known.no_limit_reason)


def parse_target_name(text: str) -> Dict[str, str]:
    """``'slurm:srun'`` → ``{'executor': 'slurm', 'launcher': 'srun'}``; the launcher
    defaults to ``single``. Raises ValueError naming the expected form."""
    executor, _, launcher = text.partition(':')
    launcher = launcher or 'single'
    for part, value in (('executor', executor), ('launcher', launcher)):
        if not _NAME.match(value):
            raise ValueError(f'target {text!r}: the {part} name {value!r} is not valid; '
                             'expected EXECUTOR[:LAUNCHER], e.g. slurm:srun')
    return {'executor': executor, 'launcher': launcher}
