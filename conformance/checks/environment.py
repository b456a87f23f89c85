"""The spec's environment reaches the job; inherit_environment=False keeps the submitting
process's environment out."""

import os
from typing import Dict, Union

from psij import JobState

from ..capability import capability, require
from ..context import Context

# Set in the suite's own environment when the suite starts (see runner.py), so that a job
# which inherits it can be told apart from one that does not.
INHERITED_VARIABLE = 'PSIJ_CONFORMANCE_SUBMITTER_ONLY'


def _job_environment(context: Context, inherit: bool,
                     environment: Dict[str, Union[str, int]]) -> Dict[str, str]:
    output = context.path('env.txt')
    job = context.submit(context.spec('/usr/bin/env', stdout_path=output,
                                      environment=environment,
                                      inherit_environment=inherit))
    status = context.wait_final(job, 120)
    require(status.state == JobState.COMPLETED,
            f'the env job ended {status.state} ({status.message})')
    found: Dict[str, str] = {}
    for line in output.read_text().splitlines():
        name, equals, value = line.partition('=')
        if equals:
            found.setdefault(name, value)
    return found


@capability('environment', 'variables of the spec\'s environment reach the job verbatim')
def environment(context: Context) -> None:
    wanted = {'PSIJ_CONF_PLAIN': 'value', 'PSIJ_CONF_SPACES': 'a value with $HOME and "quotes"',
              'PSIJ_CONF_NUMBER': '42'}
    found = _job_environment(context, True, {**wanted, 'PSIJ_CONF_NUMBER': 42})
    for name, value in wanted.items():
        require(found.get(name) == value,
                f'{name} should be {value!r} in the job; it is {found.get(name)!r}')


@capability('inherit-environment-false',
            'with inherit_environment=False the submitter\'s variables stay out, the spec\'s '
            'get in')
def inherit_environment_false(context: Context) -> None:
    require(INHERITED_VARIABLE in os.environ, 'the suite did not set its marker variable')
    found = _job_environment(context, False, {'PSIJ_CONF_OWN': 'mine'})
    require(INHERITED_VARIABLE not in found,
            f'{INHERITED_VARIABLE}, set only in the submitting process, reached the job')
    require(found.get('PSIJ_CONF_OWN') == 'mine',
            f'PSIJ_CONF_OWN should be \'mine\' in the job; it is {found.get("PSIJ_CONF_OWN")!r}')
