"""A sweep of a Python function, in a notebook style: each ``# %%`` block is a cell. Runs on
this machine with the ``local`` executor; `functions_slurm.py` is the same on Slurm.
"""

# %% A function, defined in the notebook itself (in __main__): cloudpickle sends it by value.
import concurrent.futures
import math

from psij.functions import FunctionExecutor, RemoteTraceback


def energy(temperature: float, pressure: float) -> float:
    return round(pressure * math.log(temperature), 3)


functions = FunctionExecutor('local')

# %% The sweep: 12 calls, ONE job array of 6 elements running 2 calls each; results in order.
temperatures = [250.0, 300.0, 350.0] * 4
pressures = [1.0] * 3 + [2.0] * 3 + [4.0] * 3 + [8.0] * 3
energies = list(functions.map(energy, temperatures, pressures, chunksize=2))
print('energies:', energies)
assert energies == [energy(t, p) for t, p in zip(temperatures, pressures)]

# %% One call is one job: its future knows the job, its native id (a pid here) and files.
future = functions.submit(energy, 300.0, pressure=2.0)
print('job', future.native_id, 'returned', future.result(), '- output in', future.stdout_path)
assert future.result() == energy(300.0, 2.0)

# %% Lambdas and closures work too; futures work with concurrent.futures.as_completed.
scale = 10
futures = [functions.submit(lambda x: x * scale, x) for x in range(5)]
total = sum(f.result() for f in concurrent.futures.as_completed(futures))
assert total == 100

# %% An exception raised by the function is raised here, with the job's traceback as cause.
failing = functions.submit(math.log, -1.0)
try:
    failing.result()
except ValueError as error:
    assert isinstance(error.__cause__, RemoteTraceback)
    print('the job raised:', repr(error))
    print('its traceback ends with:', error.__cause__.text.strip().splitlines()[-1])
else:
    raise AssertionError('math.log(-1) returned')

# %% Done: nothing more can be submitted; wait=True waits for what is still running.
functions.shutdown(wait=True)
