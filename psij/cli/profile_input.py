"""``--profile NAME``: the profile of ``psij run``/``submit``, and where its values go.

What is written on the command line wins, then the profile, then the environment
(``PSIJ_EXECUTOR``, ``PSIJ_URL``, ``PSIJ_WORK_DIRECTORY``), then psij's defaults. So the
profile fills the executor options left unset (`apply_profile`) before the environment does
(`psij.cli.parser.resolve_executor_defaults`); its spec fields go under the spec file's and
the options' (`psij.cli.spec_input.build_spec`).
"""

import argparse
from typing import Optional

from psij.cli.exit_status import CliError, ExitStatus
from psij.configuration import ConfigurationError, Profile, load


def selected_profile(options: argparse.Namespace) -> Optional[Profile]:
    """The profile ``--profile`` names (None without one), loaded once per command line."""
    found: Optional[Profile] = getattr(options, 'profile_object', None)
    return found


def apply_profile(options: argparse.Namespace) -> None:
    """Load the profile of ``--profile`` (if the subcommand has it and it is given), keep it
    on ``options`` and put its executor, url and work directory where the command line left
    them unset. Raises `CliError` (`ExitStatus.USAGE`) for a configuration problem or an
    unknown profile, with the file, key and line."""
    options.profile_object = None
    name: Optional[str] = getattr(options, 'profile', None)
    if name is None:
        return
    try:
        profile = load().profile(name)
    except ConfigurationError as error:
        raise CliError(ExitStatus.USAGE, f'--profile {name}: {error}') from error
    options.profile_object = profile
    if getattr(options, 'executor', None) is None:
        options.executor = profile.executor_name
    if getattr(options, 'url', None) is None:
        options.url = profile.url
    if getattr(options, 'work_directory', None) is None:
        directory = profile.settings.get('work_directory')
        options.work_directory = None if directory is None else str(directory)
