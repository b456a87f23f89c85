"""From a map to a campaign: its jobs (commands grouped), their scripts and records, and the
job spec each submission gets.

Everything that can be wrong with a map is found here, before the logs folder exists: a
campaign is created whole from a map that reads, expands and fits the executor, or not at
all.
"""

import os
import pathlib
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from psij import serialize
from psij.campaigns import job_defaults
from psij.campaigns.expansion import Command, expand_commands
from psij.campaigns.job_script import SHELL, render_script
from psij.campaigns.logs_folder import LogsFolder, job_names
from psij.campaigns.map_format import JobsMap, MapError, Setting, read_map, render_header
from psij.campaigns.records import CommandRecord, JobRecord
from psij.exceptions import InvalidJobException
from psij.job import Job
from psij.job_executor import JobExecutor
from psij.job_spec import JobSpec


@dataclass
class Plan:
    """A map read and expanded: the campaign it makes, not yet written anywhere."""

    jobs_map: JobsMap
    template: JobSpec
    commands: List[Command]
    #: The commands of each job, in order.
    groups: List[List[Command]]
    #: The directory jobs run in, and relative paths in the map are relative to.
    directory: str


def plan_campaign(map_path: str, grouping: int, directory: Optional[str] = None) -> Plan:
    """Read the map at ``map_path`` and group its commands ``grouping`` to a job.

    Raises `psij.campaigns.map_format.MapError` (or its `MapReadError`) for any problem.
    """
    if grouping < 1:
        raise ValueError(f'grouping must be at least 1, not {grouping}')
    base = os.path.abspath(directory if directory is not None else os.getcwd())
    jobs_map = read_map(map_path)
    template = job_defaults.job_template(jobs_map)
    commands = expand_commands(jobs_map.commands, map_path, base)
    groups = [commands[start:start + grouping] for start in range(0, len(commands), grouping)]
    return Plan(jobs_map, template, commands, groups, base)


def check_with_executor(plan: Plan, executor: JobExecutor) -> None:
    """Raise `MapError` if ``executor`` refuses the map's settings, found by building the
    first job's batch script (executors without one check at submission)."""
    generate = getattr(executor, 'generate_script', None)
    if generate is None:
        return
    job = Job(_spec(plan.template, plan.directory, ['/dev/null', 'check'], 'campaign-check'))
    try:
        generate(job)
    except InvalidJobException as error:
        raise MapError(plan.jobs_map.path, None, f'the {executor.name} executor refuses the '
                                                 f'jobs: {error.message}') from error


def create_campaign(plan: Plan, logs: pathlib.Path, executor: str,
                    work_directory: Optional[str], max_running: int,
                    grouping: int) -> LogsFolder:
    """Make the logs folder of the campaign ``plan`` describes (see
    `psij.campaigns.logs_folder.LogsFolder.create`)."""
    logs = pathlib.Path(os.path.abspath(logs))
    names = job_names(len(plan.groups))
    jobs_map = plan.jobs_map
    records: List[JobRecord] = []
    scripts: Dict[str, str] = {}
    for name, group in zip(names, plan.groups):
        paths = {suffix: str(logs / f'{name}{suffix}')
                 for suffix in ('.out', '.err', '.sh', '.result')}
        records.append(JobRecord(
            id=name, commands=[CommandRecord(command.line, command.text) for command in group],
            executor=executor, stdout=paths['.out'], stderr=paths['.err'],
            script=paths['.sh'], result=paths['.result']))
        scripts[name] = render_script(name, str(logs), paths['.result'], group,
                                      jobs_map.pre, jobs_map.post)
    campaign: Dict[str, Any] = {
        'map': os.path.abspath(jobs_map.path), 'created': time.time(),
        'directory': plan.directory, 'executor': executor,
        'work_directory': work_directory, 'max_running': max_running, 'grouping': grouping,
        'jobs': len(names), 'commands': len(plan.commands),
        'pre': [[line.number, line.text] for line in jobs_map.pre],
        'post': [[line.number, line.text] for line in jobs_map.post],
        'settings': {section: [[setting.key, setting.value, setting.line]
                               for setting in settings]
                     for section, settings in jobs_map.settings.items()},
        'template': serialize.spec_to_dict(plan.template),
    }
    return LogsFolder.create(logs, campaign, records, scripts)


def _spec(template: JobSpec, directory: str, arguments: List[str], name: str,
          stdout: str = '/dev/null', stderr: str = '/dev/null') -> JobSpec:
    spec = serialize.spec_from_dict(serialize.spec_to_dict(template))
    spec.executable = SHELL
    spec.arguments = arguments
    spec.directory = directory
    spec.name = name
    spec.stdout_path = stdout
    spec.stderr_path = stderr
    return spec


def spec_for(folder: LogsFolder, record: JobRecord, attempt: str) -> JobSpec:
    """The spec of submission ``attempt`` (psij's job id) of the job of ``record``."""
    campaign = folder.campaign
    template = serialize.spec_from_dict(campaign['template'])
    return _spec(template, campaign['directory'], [record.script, attempt],
                 f'campaign-{record.id}', record.stdout, record.stderr)


def header_lines(folder: LogsFolder) -> List[str]:
    """The map sections of the campaign other than its commands, as a map writes them."""
    campaign = folder.campaign
    settings = {section: [Setting(str(key), str(value), int(line))
                          for key, value, line in entries]
                for section, entries in campaign['settings'].items()}
    return render_header([str(text) for _, text in campaign['pre']],
                         [str(text) for _, text in campaign['post']], settings)

