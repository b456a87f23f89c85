"""Many small tasks in few allocations: the ``pilot`` executor.

`PilotJobExecutor` takes ordinary psij jobs as tasks and runs them inside allocations it
obtains from another executor (any batch executor, or ``local``), configured by
`PilotExecutorConfig`. Importing this package starts nothing; see `psij.pilot.executor`.
"""

from psij.pilot.config import PilotExecutorConfig
from psij.pilot.executor import PilotJobExecutor

__all__ = ['PilotExecutorConfig', 'PilotJobExecutor']
