"""What a batch executor asks of this package: the queues that apply to it, and the check of
a job at `submit`."""

from typing import TYPE_CHECKING, Optional

from psij.exceptions import InvalidJobException
from psij.job import Job
from psij.job_spec import JobSpec
from psij.queue_limits.effective import EffectiveQueues, merge
from psij.queue_limits.job_check import check_spec
from psij.queue_limits.limits import SchedulerQueues
from psij.queue_limits.scheduler_cache import SchedulerLimitsCache, scheduler_limits

if TYPE_CHECKING:
    from psij.batch.executor import BatchSchedulerExecutor


def scheduler_queues(executor: 'BatchSchedulerExecutor',
                     cache: Optional[SchedulerLimitsCache] = None
                     ) -> Optional[SchedulerQueues]:
    """What the executor's scheduler says about its queues (kept for the config's
    ``queue_limits_cache`` seconds); None if the config says not to ask
    (``queue_limits_from_scheduler=False``), or the scheduler cannot say."""
    config = executor.batch_config
    if not config.queue_limits_from_scheduler:
        return None
    return (cache or scheduler_limits).queues(executor.scheduler, executor.transport,
                                              config.queue_limits_cache,
                                              config.command_timeout)


def effective_queues(executor: 'BatchSchedulerExecutor',
                     cache: Optional[SchedulerLimitsCache] = None) -> EffectiveQueues:
    """The queues of the executor with the limits that apply: the config's over the
    scheduler's, field by field."""
    return merge(executor.batch_config.queue_limits, scheduler_queues(executor, cache))


def check_queue_limits(executor: 'BatchSchedulerExecutor', job: Job, spec: JobSpec) -> None:
    """Refuse ``job`` (`InvalidJobException`, the job unbound from the executor so it can be
    fixed and submitted again) if its queue is unknown to the scheduler or it asks for more
    (or less) than a limit of its queue."""
    try:
        check_spec(spec, effective_queues(executor))
    except InvalidJobException:
        job.executor = None
        raise
