"""Campaigns: many similar jobs from one map file, at most N in flight, followed through a
logs folder that lets any process take over (``psij campaign``; docs/many-jobs.md).

* `psij.campaigns.map_format`: the map file (sections, settings, command lines);
* `psij.campaigns.expansion`: ``{{a,b}}``, ``{{file:PATH}}``, ``{{glob:PATTERN}}`` and named
  groups;
* `psij.campaigns.job_defaults`: the [resources], [attributes] and [environment] sections;
* `psij.campaigns.plan`: a map turned into jobs (commands grouped) and the campaign made;
* `psij.campaigns.job_script`: the script each job runs and the result file it leaves;
* `psij.campaigns.logs_folder`: the folder's files, its lock, atomic writes;
* `psij.campaigns.records`: the record of each job (``<job>.json``);
* `psij.campaigns.runner`: submitting with a cap, following, recording;
* `psij.campaigns.recovery`: what became of a submission whose outcome was lost;
* `psij.campaigns.outcome`: how a job ended, from the executor and its result file;
* `psij.campaigns.progress`: what a running campaign shows.

Works with any executor, through its public API only.
"""

from psij.campaigns.logs_folder import (
    FolderBusy,
    FolderError,
    FolderInUse,
    LogsFolder,
    NotACampaign,
)
from psij.campaigns.map_format import MapError, MapReadError
from psij.campaigns.plan import Plan, check_with_executor, create_campaign, plan_campaign
from psij.campaigns.records import STATES, JobRecord
from psij.campaigns.runner import CampaignRunner, Observer, Summary

__all__ = [
    'STATES',
    'CampaignRunner',
    'FolderBusy',
    'FolderError',
    'FolderInUse',
    'JobRecord',
    'LogsFolder',
    'MapError',
    'MapReadError',
    'NotACampaign',
    'Observer',
    'Plan',
    'Summary',
    'check_with_executor',
    'create_campaign',
    'plan_campaign',
]
