"""The sweep of ``functions_sweep.py`` on Slurm: ``map`` is ONE ``sbatch --array``, each
element a job with the resources and wall time of the base spec. A notebook that restarted
gets its results back from the native ids it kept.

Run it on a login node, from a directory the compute nodes also see (the executor's work
directory, ``~/.psij/work``, must be visible from them too).

Requires: slurm
"""

# %% The executor: Slurm, one core and five minutes per job, at most 4 elements at once.
import math
import time
from datetime import timedelta

from psij import JobAttributes, JobSpec, JobState, ResourceSpecV1
from psij.batch import BatchSchedulerExecutorConfig
from psij.functions import FunctionExecutor, NoResultError


def energy(temperature: float, pressure: float) -> float:
    return round(pressure * math.log(temperature), 3)


spec = JobSpec(resources=ResourceSpecV1(cpu_cores_per_process=1),
               attributes=JobAttributes(duration=timedelta(minutes=5)))
# Poll squeue every 5 s (30 s by default: a cluster's controller has other users).
config = BatchSchedulerExecutorConfig(queue_polling_interval=5.0)
functions = FunctionExecutor('slurm', config=config, spec=spec, throttle=4)

# %% The sweep: 12 calls in chunks of 3, one array of 4 elements.
temperatures = [250.0, 300.0, 350.0, 400.0] * 3
pressures = [1.0] * 4 + [2.0] * 4 + [4.0] * 4
futures = functions.map_futures(energy, temperatures, pressures, chunksize=3)
array = futures[0].job.array
assert array is not None
print('Slurm array', array.native_id, 'elements', sorted({f.native_id for f in futures}))
energies = [future.result(timeout=600) for future in futures]
assert energies == [energy(t, p) for t, p in zip(temperatures, pressures)]

# %% Keep a native id; after a restart, a new FunctionExecutor recovers the result.
# (Here this process is still there and watches the job too: with two readers of one result,
# the files are kept; by default the first to read it removes them.)
keeping = FunctionExecutor('slurm', config=config, spec=spec, keep_files=True)
native_id = keeping.submit(energy, 300.0, 2.0).native_id
assert native_id is not None
after_restart = FunctionExecutor('slurm', config=config, keep_files=True)
[recovered] = after_restart.recover(native_id)
print('job', native_id, 'recovered:', recovered.result(timeout=600))
assert recovered.result() == energy(300.0, 2.0)

# %% A job that ends without a result (here canceled; a time limit is the same) says why.
sleeper = functions.submit(time.sleep, 600)
sleeper.job.wait(timeout=600, target_states=JobState.ACTIVE)
sleeper.job.cancel()
try:
    sleeper.result(timeout=600)
except NoResultError as error:
    print(error)
    assert error.status.state == JobState.CANCELED
functions.shutdown()
