"""A `JobExecutor` for the lineq scheduler (``lq-submit``, ``lq-status``, ``lq-cancel``,
``lq-list``), on psij-python's batch base.

The base runs the commands this class builds and parses their output with the methods here;
the job script is ``lineq.mustache``, which leaves the launch command's exit code in
``<script_dir>/<native id>.ec`` and the script's output in ``<script_dir>/<native id>.out``,
as the base requires.
"""

import re
from pathlib import Path
from typing import IO, Collection, Dict, List, Optional

from psij.executors.batch.batch_scheduler_executor import (
    BatchSchedulerExecutor,
    BatchSchedulerExecutorConfig,
    InvalidJobStateError,
)
from psij.executors.batch.script_generator import TemplatedScriptGenerator

from psij import Job, JobState, JobStatus, SubmitException

_SUBMIT_REGEX = re.compile(r'^Job ([0-9]+) accepted', re.MULTILINE)
_STATUS_REGEX = re.compile(r'^([0-9]+) ([A-Z]+)(?: (-?[0-9]+))?$')
#: lq-cancel's exit status for a job that has already finished.
_ALREADY_FINISHED = 3


class LineqExecutorConfig(BatchSchedulerExecutorConfig):
    """A configuration class for the lineq executor."""


class LineqJobExecutor(BatchSchedulerExecutor):
    """A :class:`~psij.JobExecutor` for lineq.

    Custom attributes prefixed with ``lineq.`` become ``#LQ --<key>=<value>`` directives.
    """

    # lq-status's states. DONE is a finished script, whatever its job did: as with PBS's F
    # state, the base tells COMPLETED from FAILED by the exit-code file.
    _STATE_MAP = {
        'QUEUED': JobState.QUEUED,
        'RUNNING': JobState.ACTIVE,
        'DONE': JobState.COMPLETED,
        'CANCELLED': JobState.CANCELED,
    }

    def __init__(self, url: Optional[str] = None,
                 config: Optional[LineqExecutorConfig] = None) -> None:
        """
        Parameters
        ----------
        url
            Not used; accepted for compatibility.
        config
            An optional configuration for this executor.
        """
        if not config:
            config = LineqExecutorConfig()
        super().__init__(url=url, config=config)
        self.generator = TemplatedScriptGenerator(config, Path(__file__).parent / 'lineq.mustache')

    def generate_submit_script(self, job: Job, context: Dict[str, object],
                               submit_file: IO[str]) -> None:
        """See :meth:`~.BatchSchedulerExecutor.generate_submit_script`."""
        self.generator.generate_submit_script(job, context, submit_file)

    def get_submit_command(self, job: Job, submit_file_path: Path) -> List[str]:
        """See :meth:`~.BatchSchedulerExecutor.get_submit_command`."""
        return ['lq-submit', str(submit_file_path.absolute())]

    def job_id_from_submit_output(self, out: str) -> str:
        """See :meth:`~.BatchSchedulerExecutor.job_id_from_submit_output`."""
        match = _SUBMIT_REGEX.search(out)
        if match is None:
            raise SubmitException(out)
        return match.group(1)

    def get_cancel_command(self, native_id: str) -> List[str]:
        """See :meth:`~.BatchSchedulerExecutor.get_cancel_command`."""
        return ['lq-cancel', native_id]

    def process_cancel_command_output(self, exit_code: int, out: str) -> None:
        """See :meth:`~.BatchSchedulerExecutor.process_cancel_command_output`."""
        if exit_code == _ALREADY_FINISHED:
            raise InvalidJobStateError()
        raise SubmitException(f'Failed to cancel job: {out}')

    def get_status_command(self, native_ids: Collection[str]) -> List[str]:
        """See :meth:`~.BatchSchedulerExecutor.get_status_command`."""
        return ['lq-status', *native_ids]

    def parse_status_output(self, exit_code: int, out: str) -> Dict[str, JobStatus]:
        """See :meth:`~.BatchSchedulerExecutor.parse_status_output`."""
        statuses: Dict[str, JobStatus] = {}
        for line in out.splitlines():
            # lq-status names the jobs it no longer knows on stderr and exits 1; the base
            # treats a job missing from the result as finished, so those lines are skipped.
            if not line.strip() or line.startswith('lq-status: unknown job '):
                continue
            match = _STATUS_REGEX.match(line.strip())
            if match is None:
                raise RuntimeError(f'lq-status exited with {exit_code}: {out!r}')
            native_id, native_state, code = match.groups()
            state = self._STATE_MAP[native_state]
            if state == JobState.COMPLETED and code is not None and int(code) != 0:
                state = JobState.FAILED
            statuses[native_id] = JobStatus(
                state, exit_code=int(code) if code is not None else None,
                metadata={'native_state': native_state})
        return statuses

    def get_list_command(self) -> List[str]:
        """See :meth:`~.BatchSchedulerExecutor.get_list_command`."""
        return ['lq-list', '--user', self._current_user()]
