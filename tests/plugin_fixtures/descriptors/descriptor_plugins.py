"""Plugins declared only by the psij-python style descriptors of ``psij-descriptors/`` here.

The executor is our local executor under another name; it declares no ``name`` or
``version``, so it takes the descriptor's. The launcher subclasses the launcher base through
psij-python's module path, ``psij.job_launcher``.
"""

from typing import List, Optional

from psij.executors.local import LocalJobExecutor

from psij import Job
from psij.job_launcher import Launcher


class PsijPythonStyleExecutor(LocalJobExecutor):
    """The local executor, found through a descriptor."""


class VersionedExecutor(LocalJobExecutor):
    """Declares its own name and version, which win over its descriptor's."""

    name = 'versioned'
    version = '0.2'


class ShadowedExecutor(LocalJobExecutor):  # pragma: no cover - the entry point wins
    """Declared by a descriptor as 'local', which an entry point already is."""


class DirectLauncher(Launcher):
    """Starts the executable itself, once."""

    def get_launch_command(self, job: Job, log_file: Optional[str] = None) -> List[str]:
        spec = job.spec
        if spec is None or spec.executable is None:
            raise ValueError('the job has no executable')
        return [spec.executable, *spec.arguments]
