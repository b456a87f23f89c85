"""A campaign killed with ``kill -9`` half-way, then taken over by another process with
``psij campaign reattach``: the jobs in flight are followed to their end, the rest are
submitted, and every command runs exactly once.
"""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

PSIJ = [sys.executable, '-m', 'psij.cli']

# Ten commands; each appends its number to ran.txt once.
pathlib.Path('jobs.map').write_text('sleep 1; echo {{1,2,3,4,5,6,7,8,9,10}} >> ran.txt\n')
submitter = subprocess.Popen(PSIJ + ['campaign', 'submit', 'jobs.map', '--logs', 'logs',
                                     '--max-running', '3'], stdout=subprocess.DEVNULL)


def states() -> list:
    if not pathlib.Path('logs/campaign.json').exists():
        return []
    return [json.loads(path.read_text())['state'] for path in sorted(
        pathlib.Path('logs').glob('[0-9]*.json'))]


while not ('completed' in states() and 'unsubmitted' in states()):
    time.sleep(0.1)
os.kill(submitter.pid, signal.SIGKILL)     # no chance to clean up
submitter.wait()
print('killed half-way:', ' '.join(states()))

taken_over = subprocess.run(PSIJ + ['campaign', 'reattach', '--logs', 'logs'],
                            capture_output=True, text=True, timeout=300)
print(taken_over.stdout, end='')
assert taken_over.returncode == 0, taken_over.stderr
assert states() == ['completed'] * 10
numbers = sorted(int(line) for line in pathlib.Path('ran.txt').read_text().split())
assert numbers == list(range(1, 11)), numbers   # each exactly once
