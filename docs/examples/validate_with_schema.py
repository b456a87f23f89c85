"""Checking job spec documents against docs/job-spec.schema.json with ``jsonschema``."""

import json
import pathlib

import jsonschema

from psij import JobSpec, ResourceSpecV1
from psij.serialize import dumps

schema = json.loads(
    (pathlib.Path(__file__).resolve().parent.parent / 'job-spec.schema.json').read_text())
validator = jsonschema.Draft202012Validator(schema)

document = json.loads(dumps(JobSpec('/bin/true', resources=ResourceSpecV1(process_count=4))))
validator.validate(document)               # what psij writes is valid

document['resources']['node_count'] = 0
errors = [f'{"/".join(map(str, error.path))}: {error.message}'
          for error in validator.iter_errors(document)]
print('\n'.join(errors))
assert errors and errors[0].startswith('resources/node_count')
