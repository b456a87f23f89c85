"""Python functions as psij jobs, through `concurrent.futures` (docs/functions.md).

* `psij.functions.executor`: `FunctionExecutor`, the `concurrent.futures.Executor` over any
  psij executor (``submit``, ``map`` as one job array, ``shutdown``, ``recover``);
* `psij.functions.future`: `FunctionFuture`, and how a job's end settles its futures;
* `psij.functions.calls`: the call, result and output files in the work directory, as pure
  functions (names, contents);
* `psij.functions.store`: those files where the jobs run, through the executor's transport
  (this machine, or the cluster over SSH), and their pruning;
* `psij.functions.runner`: what each job runs (standard library and cloudpickle only);
* `psij.functions.recorded_job`: jobs recorded by native id the moment they get one;
* `psij.functions.recovery`: futures of jobs another process submitted, by native id;
* `psij.functions.errors`: what the caller may see raised besides the functions' own
  exceptions.

Functions, arguments and results are pickled with cloudpickle, so lambdas, closures and
functions defined in ``__main__`` or a notebook can be run.
"""

from psij.functions.errors import (
    CallNotPicklable,
    FunctionJobError,
    NoResultError,
    RemoteError,
    RemoteTraceback,
    RunnerError,
)
from psij.functions.executor import FunctionExecutor
from psij.functions.future import FunctionFuture

__all__ = [
    'CallNotPicklable',
    'FunctionExecutor',
    'FunctionFuture',
    'FunctionJobError',
    'NoResultError',
    'RemoteError',
    'RemoteTraceback',
    'RunnerError',
]
