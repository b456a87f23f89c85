"""Scheduler-facing attributes of a job: wall time, queue, account, reservation."""

from datetime import timedelta
from typing import Dict, Optional

from psij._fields import Checked
from psij.exceptions import InvalidJobException


def _positive_duration(field: str, value: timedelta) -> None:
    if value <= timedelta(0):
        raise InvalidJobException(f'{field} must be a positive timedelta, not {value}')


class JobAttributes:
    """Attributes a scheduler uses to place and bill a job.

    :param duration: wall time; the scheduler may end the job when it is exceeded.
    :param queue_name: the queue (Slurm: partition) to send the job to.
    :param account: the account (project, allocation) the job is billed to.
    :param reservation_id: an advance reservation to run in.
    :param custom_attributes: executor-specific options, keys prefixed by the executor name
        (e.g. ``'slurm.constraint'``); each executor documents the ones it knows.
    :param project_name: the old name of ``account``.
    """

    duration = Checked[timedelta](
        timedelta, 'Wall time of the job.', validate=_positive_duration)
    queue_name = Checked[Optional[str]](Optional[str], 'Queue or partition name.')
    account = Checked[Optional[str]](Optional[str], 'Account or project billed.')
    reservation_id = Checked[Optional[str]](Optional[str], 'Advance reservation to use.')
    # The dict is kept as given, not copied (as the PSI/J specification says of the
    # environment, and as psij-python does): a change the caller makes to it later counts.
    custom_attributes = Checked[Optional[Dict[str, object]]](
        Optional[Dict[str, object]], 'Executor-specific options, e.g. {"slurm.constraint": "x"}.')

    def __init__(self, duration: timedelta = timedelta(minutes=10),
                 queue_name: Optional[str] = None, account: Optional[str] = None,
                 reservation_id: Optional[str] = None,
                 custom_attributes: Optional[Dict[str, object]] = None,
                 project_name: Optional[str] = None) -> None:
        self.duration = duration
        self.queue_name = queue_name
        self.account = account
        if project_name is not None:
            if account is not None and account != project_name:
                raise InvalidJobException(
                    'JobAttributes: account and project_name are the same field; '
                    f'got account={account!r} and project_name={project_name!r}')
            self.account = project_name
        self.reservation_id = reservation_id
        self.custom_attributes = custom_attributes

    @property
    def project_name(self) -> Optional[str]:
        """The same as ``account`` (the name psij-python used first)."""
        return self.account

    @project_name.setter
    def project_name(self, value: Optional[str]) -> None:
        self.account = value

    def set_custom_attribute(self, name: str, value: object) -> None:
        """Set one custom attribute."""
        if self.custom_attributes is None:
            self.custom_attributes = {}
        assert self.custom_attributes is not None
        self.custom_attributes[name] = value

    def get_custom_attribute(self, name: str) -> Optional[object]:
        """One custom attribute, or None."""
        return None if self.custom_attributes is None else self.custom_attributes.get(name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JobAttributes) and vars(self) == vars(other)

    def __repr__(self) -> str:
        return 'JobAttributes(' + ', '.join(
            f'{key}={value!r}' for key, value in vars(self).items() if value is not None) + ')'
