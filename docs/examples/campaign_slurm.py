"""A campaign on Slurm with ``--grouping``: three commands run one after another in each
job; when one fails, the job fails and its record names the command, its map line and its
exit code. Then ``psij campaign info`` makes a map of just the commands that failed.

Requires: slurm
"""

import json
import pathlib
import subprocess
import sys

PSIJ = [sys.executable, '-m', 'psij.cli']

pathlib.Path('jobs.map').write_text(
    '[attributes]\n'
    'duration = 5:00\n'
    '[jobs]\n'
    'echo "step {{?n:1,2,3,4,5,6}}"; [ {{?=n}} -ne 5 ] || exit 42\n')
run = subprocess.run(PSIJ + ['campaign', 'submit', 'jobs.map', '--logs', 'logs', '-e',
                             'slurm', '--grouping', '3', '--max-running', '2', '--json'],
                     capture_output=True, text=True, timeout=600)
summary = json.loads(run.stdout)
print(summary)
assert run.returncode == 42 and summary['counts']['completed'] == 1
assert summary['failed'] == ['2']

info = subprocess.run(PSIJ + ['campaign', 'info', '--logs', 'logs', '--status', 'failed',
                              '--json', 'native_id', 'message', 'commands.exit_code'],
                      capture_output=True, text=True, timeout=60)
[job] = json.loads(info.stdout)['jobs']
print(job)
assert job['message'] == ('command 2 of 3 (map line 4) exited with 42; 1 of 3 commands '
                          'failed')
assert job['commands.exit_code'] == [0, 42, 0]
assert pathlib.Path('logs/2.out').read_text() == 'step 4\nstep 5\nstep 6\n'

again = subprocess.run(PSIJ + ['campaign', 'info', '--logs', 'logs', '--status', 'failed'],
                       capture_output=True, text=True, timeout=60)
print(again.stdout, end='')
assert again.stdout == ('[attributes]\nduration = 5:00\n[jobs]\n'
                        'echo "step 5"; [ 5 -ne 5 ] || exit 42\n')
