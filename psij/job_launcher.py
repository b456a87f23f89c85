"""The module psij-python keeps its launcher base class in: the same classes as elsewhere.

``from psij.job_launcher import Launcher`` gives `psij.Launcher` itself (so ``isinstance`` and
subclassing work across both paths), and the other names psij-python's ``psij.job_launcher``
and ``psij.launcher`` modules offer: `Descriptor`, `Job` and `JobExecutorConfig`.
"""

from psij.descriptor import Descriptor
from psij.job import Job
from psij.job_executor_config import JobExecutorConfig
from psij.launcher import Launcher

__all__ = ['Descriptor', 'Job', 'JobExecutorConfig', 'Launcher']
