"""Saving a JobSpec as JSON and reading it back, exactly."""

import io
import json
from datetime import timedelta

from psij import JobAttributes, JobSpec, ResourceSpecV1
from psij.serialize import SpecFormatError, dump, dumps, load, loads

spec = JobSpec(
    '/bin/hostname', ['-f'], stdout_path='out.txt', launcher='mpirun',
    environment={'OMP_NUM_THREADS': '2'},
    resources=ResourceSpecV1(node_count=2, processes_per_node=4),
    attributes=JobAttributes(duration=timedelta(minutes=5), account='proj1',
                             custom_attributes={'slurm.constraint': 'knl'}),
)

text = dumps(spec, indent=2)               # keys sorted: equal specs give equal text
print(text)
assert loads(text) == spec                 # every field comes back, types included

document = json.loads(text)
assert document['attributes']['duration'] == 300         # seconds
assert document['resources']['process_count'] is None    # as given, not computed

with io.StringIO() as stream:              # or a file opened with open(path, 'w')
    dump(spec, stream)
    stream.seek(0)
    assert load(stream) == spec

# Fields left out take the constructor's defaults; "version" is required.
short = loads('{"version": 1, "executable": "/bin/date"}')
assert short == JobSpec('/bin/date')

# A bad document raises SpecFormatError (an InvalidJobException and a ValueError) that
# starts with the path of the field and says what is allowed there.
try:
    loads('{"version": 1, "resources": {"version": 1, "node_count": "two"}}')
except SpecFormatError as error:
    print(error)
    assert error.path == 'resources.node_count'
else:
    raise AssertionError('a string node_count was accepted')
