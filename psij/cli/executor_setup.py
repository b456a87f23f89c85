"""Getting the executor (and checking the launcher) a command names, with one-line errors."""

import argparse
import sys
from typing import Optional

from psij.cli.budget_options import budget_overrides, option_of
from psij.cli.exit_status import CliError, ExitStatus
from psij.cli.parser import executor_name, executor_url, work_directory
from psij.cli.profile_input import selected_profile
from psij.configuration import ConfigurationError, Site, load
from psij.configuration.executor_settings import config_class, settings
from psij.job_executor import JobExecutor
from psij.job_executor_config import JobExecutorConfig
from psij.job_spec import JobSpec
from psij.launcher import launchers
from psij.plugins import PluginLoadError


def open_executor(options: argparse.Namespace) -> JobExecutor:
    """The executor named by ``-e`` (or ``--profile``, or ``PSIJ_EXECUTOR``), with the work
    directory of the options and the settings of the profile.

    Raises `CliError`: `ExitStatus.UNKNOWN_PLUGIN` for an unknown executor or one whose
    plugin fails to load, `ExitStatus.BACKEND` if it cannot be set up (e.g. its work
    directory cannot be created).
    """
    name = executor_name(options)
    directory: Optional[str] = work_directory(options)
    url = executor_url(options)
    profile = selected_profile(options)
    overrides = budget_overrides(options)
    try:
        if overrides and not set(overrides) <= set(settings(name)):
            raise CliError(ExitStatus.USAGE, f'{option_of(next(iter(overrides)))} is for '
                                             f'-e local; the {name!r} executor has no budget')
        if profile is not None:
            return profile.executor(name, url=url, work_directory=directory, **overrides)
        site = _site_of(name, url)
        if site is not None:
            return site.executor(work_directory=directory, **overrides)
        config = config_class(name)(work_directory=directory, **overrides) if overrides \
            else JobExecutorConfig(work_directory=directory)
        return JobExecutor.get_instance(name, url=url, config=config)
    except ConfigurationError as error:
        raise CliError(ExitStatus.USAGE, f'--profile {profile.name if profile else ""}: '
                                         f'{error}') from error
    except PluginLoadError as error:
        raise CliError(ExitStatus.UNKNOWN_PLUGIN, str(error)) from error
    except ValueError as error:
        if 'JobExecutor url' in str(error):
            raise CliError(ExitStatus.USAGE, f'{error} (--url)') from error
        # get_instance's ValueError names the known executors.
        raise CliError(ExitStatus.UNKNOWN_PLUGIN, f'{error} (-e/--executor)') from error
    except OSError as error:
        raise CliError(ExitStatus.BACKEND,
                       f'cannot set up the {name!r} executor: {error}') from error


def _site_of(name: str, url: Optional[str]) -> Optional[Site]:
    """The configuration's site of executor ``name`` at ``url`` (its settings and queue
    limits apply to a command without ``--profile`` too), or None.

    A configuration file that cannot be read is then said in one warning line and the
    command goes on without it: a broken file must not stop ``psij run`` at a login node,
    and the scheduler's own limits still apply. (With ``--profile`` it is an error.)"""
    try:
        return load().site(name, url)
    except ConfigurationError as error:
        print(f'psij: warning: configuration not used: {error}', file=sys.stderr)
        return None


def check_launcher(spec: JobSpec) -> None:
    """Raise `CliError` (`ExitStatus.UNKNOWN_PLUGIN`) if the spec's launcher is unknown or
    fails to load; the executor would otherwise report it as an invalid spec."""
    name = spec.launcher
    if name is None:
        return
    try:
        launchers.load(name)
    except PluginLoadError as error:
        raise CliError(ExitStatus.UNKNOWN_PLUGIN, str(error)) from error
    except ValueError as error:
        raise CliError(ExitStatus.UNKNOWN_PLUGIN, f'{error} (--launcher)') from error
