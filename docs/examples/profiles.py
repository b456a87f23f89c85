"""Profiles of the configuration file: a spec and an executor from [profile.NAME]."""

import os
import pathlib
from datetime import timedelta

from psij import Job, JobState
from psij.configuration import ConfigurationError, load

# A file as users write it (here given by PSIJ_CONFIG; ~/.config/psij/config.toml is read too).
config_file = pathlib.Path.cwd() / 'config.toml'
config_file.write_text('''
[profile.quick]
executor = "local"
launcher = "multiple"
max_in_flight = 4                  # a setting of the local executor's config
work_directory = "psij-work"

[profile.quick.resources]
process_count = 2

[profile.quick.attributes]
duration = "00:05:00"
''')
os.environ['PSIJ_CONFIG'] = str(config_file)

configuration = load()
profile = configuration.profile('quick')
print(profile.name, profile.executor_name, profile.summary())

# The profile fills what the caller leaves unset; what the caller gives wins.
spec = profile.job_spec(executable='/bin/echo', arguments=['hello'],
                        stdout_path=pathlib.Path.cwd() / 'out.txt')
assert spec.launcher == 'multiple' and spec.resources.process_count == 2
assert spec.attributes.duration == timedelta(minutes=5)

executor = profile.executor()       # JobExecutor.get_instance('local', config=...)
job = Job(spec)
executor.submit(job)
job.wait()
assert job.status.state == JobState.COMPLETED
assert (pathlib.Path.cwd() / 'out.txt').read_text() == 'hello\nhello\n'

# Every problem names the file, the key and its line.
config_file.write_text('[profile.quick]\nexecutor = "local"\nqueue_polling_interval = 5\n')
try:
    load()
except ConfigurationError as error:
    print(error)
    assert error.line == 3 and error.key == 'profile.quick.queue_polling_interval'
else:
    raise AssertionError('a setting the local executor does not have was accepted')
