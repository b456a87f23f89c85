"""Queues and their limits: a job over a limit of its queue is refused at `submit`.

A batch executor checks each job against the limits of its queue
(`psij.JobAttributes.queue_name`, else the scheduler's default queue) before anything is
sent: a job asking for more nodes, cores, GPUs, memory or wall time than the queue allows, or
fewer nodes or less time than its minimum, is refused with `psij.InvalidJobException` naming
the field, the value asked, the queue and its limit. Nothing is ever clamped: a job that
silently got less time than it asked for would die hours later.

The limits come from two places:

* the executor's config, `BatchSchedulerExecutorConfig.queue_limits` (per queue name, keys
  `LIMIT_NAMES`; a configuration file's ``[site.NAME.queue.QNAME]`` tables fill it);
* the scheduler, where it tells them (Slurm partitions, Grid Engine, PBS and LSF queues:
  ``queue_limits_command`` of each `psij.batch.BatchScheduler`), read once and kept for
  ``queue_limits_cache`` seconds per scheduler and transport (`scheduler_cache`).

The config's limit wins over the scheduler's, field by field (a site may set a tighter
``max_duration`` than the partition's and keep the partition's ``max_nodes``). When the
scheduler lists its queues, a queue it does not list (and the config does not name) is
refused, naming the known ones. When the scheduler cannot be asked (its command fails), the
failure is logged and the job is sent, checked against the config's limits only: the
scheduler has the last word.
"""

from psij.queue_limits.config_limits import limits_from_config
from psij.queue_limits.effective import EffectiveQueue, EffectiveQueues, merge
from psij.queue_limits.executor_check import (
    check_queue_limits,
    effective_queues,
    scheduler_queues,
)
from psij.queue_limits.job_check import check_spec
from psij.queue_limits.limits import LIMIT_NAMES, QueueLimit, QueueLimits, SchedulerQueues
from psij.queue_limits.scheduler_cache import SchedulerLimitsCache, scheduler_limits

__all__ = ['LIMIT_NAMES', 'EffectiveQueue', 'EffectiveQueues', 'QueueLimit', 'QueueLimits',
           'SchedulerLimitsCache', 'SchedulerQueues', 'check_queue_limits', 'check_spec',
           'effective_queues', 'limits_from_config', 'merge', 'scheduler_limits',
           'scheduler_queues']
