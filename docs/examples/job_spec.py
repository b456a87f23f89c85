"""Describing a job: JobSpec, ResourceSpecV1 and JobAttributes, and how bad values are refused."""

import pathlib
from datetime import timedelta

from psij import InvalidJobException, JobAttributes, JobSpec, ResourceSpecV1

spec = JobSpec(
    executable='/bin/date',                 # an absolute path, or a name found on PATH
    arguments=['--utc', '+%H:%M'],          # argv[1:], passed verbatim (no shell)
    directory='/tmp',                       # the job's working directory
    environment={'TZ': 'UTC', 'ROUNDS': 3}, # added to (or replacing) inherited variables
    stdout_path='date.out',                 # relative paths are relative to `directory`
    stderr_path='date.err',
    resources=ResourceSpecV1(node_count=2, processes_per_node=4),
    attributes=JobAttributes(duration=timedelta(minutes=30), queue_name='debug'),
)

# Every field can also be set after construction; both ways are checked the same.
spec.name = 'utc-time'
spec.arguments.append('--debug')

# Values are stored in one canonical form.
assert spec.directory == pathlib.Path('/tmp')              # str -> pathlib.Path
assert spec.environment == {'TZ': 'UTC', 'ROUNDS': '3'}    # int -> str
assert JobSpec('/bin/true').arguments == []                # None -> []

# Counts left out are computed from those given.
resources = ResourceSpecV1(node_count=2, processes_per_node=4)
assert resources.process_count is None
assert resources.computed_process_count == 8
assert ResourceSpecV1().computed_process_count == 1        # empty: one process, one node
assert ResourceSpecV1(process_count=12, processes_per_node=4).computed_node_count == 3

# Wrong types raise TypeError, naming the class, the field and the allowed type.
try:
    spec.executable = 42
except TypeError as error:
    print(error)
    assert str(error) == 'JobSpec.executable must be Optional[str], not int (42)'

# Values of the right type that make no sense raise InvalidJobException, saying why.
for make_bad_value in (lambda: ResourceSpecV1(node_count=0),
                       lambda: ResourceSpecV1(node_count=2, process_count=6,
                                              processes_per_node=4),
                       lambda: ResourceSpecV1(node_count=2, process_count=5),  # uneven
                       lambda: JobAttributes(duration=timedelta(0))):
    try:
        make_bad_value()
    except InvalidJobException as error:
        print(error)
    else:
        raise AssertionError('a bad value was accepted')
