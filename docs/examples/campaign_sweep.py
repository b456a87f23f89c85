"""A campaign on this machine: a map with lists, a glob, a file's lines and a named group;
the records ``psij campaign info`` shows; and a new map of only the command that failed.

The map, ``campaign_sweep.map``, is next to this script; the script copies it into the
current directory, makes the input files it names, and runs ``psij`` as a shell would
(``python -m psij.cli`` is the same program as the ``psij`` command).
"""

import pathlib
import shutil
import subprocess
import sys

PSIJ = [sys.executable, '-m', 'psij.cli']
HERE = pathlib.Path(__file__).resolve().parent


def psij(*args: str) -> 'subprocess.CompletedProcess[str]':
    result = subprocess.run(PSIJ + list(args), capture_output=True, text=True, timeout=300)
    print(f'$ psij {" ".join(args)}  # exit status {result.returncode}')
    print(result.stdout + result.stderr, end='')
    return result


shutil.copy(HERE / 'campaign_sweep.map', 'campaign_sweep.map')
pathlib.Path('inputs').mkdir()
pathlib.Path('inputs/a.txt').write_text('one two three\n')
pathlib.Path('inputs/b.txt').write_text('four five\n')
pathlib.Path('names.txt').write_text('Ada\nGrace\n')

# 2 seeds x 2 inputs + 2 names + 1 = 7 jobs, at most 3 in flight at once.
run = psij('campaign', 'submit', 'campaign_sweep.map', '--logs', 'logs', '--max-running', '3')
assert run.returncode == 3, 'the exit status is that of the first job that failed'
assert run.stdout.splitlines()[-2] == 'psij campaign: 7 jobs: completed 6, failed 1'
assert pathlib.Path('logs/1.out').read_text() == (
    'seed 1, inputs/a.txt: 3 words, model small\njob 1 done\n')
assert pathlib.Path('logs/6.out').read_text() == 'hello Grace\njob 6 done\n'

table = psij('campaign', 'info', '--logs', 'logs', 'state', 'exit_code', 'failed_line',
             'message')
assert table.stdout.splitlines()[-1].split() == [
    '7', 'failed', '3', '16', 'map', 'line', '16', 'exited', 'with', '3']

# Without fields, info prints the jobs' commands as a map: the failed ones, here.
failed = psij('campaign', 'info', '--logs', 'logs', '--status', 'failed')
pathlib.Path('retry.map').write_text(failed.stdout)
assert failed.stdout.endswith('[jobs]\nsh -c \'echo "this one fails" >&2; exit 3\'\n')
assert '[pre]\nexport OMP_NUM_THREADS=1\n' in failed.stdout
retry = psij('campaign', 'submit', 'retry.map', '--logs', 'retry-logs')
assert retry.returncode == 3 and 'psij campaign: 1 job: failed 1' in retry.stdout
