"""PBS Professional and Torque: the job submitted from a script, for a submission whose
answer was lost.

Both show, in ``qstat -f``, the arguments qsub was given: ``Submit_arguments`` (PBS
Professional and OpenPBS, finished jobs too with ``-x`` while the server keeps job history)
and ``submit_args`` (Torque, finished jobs while ``keep_completed`` keeps them). psij's
script path, which holds its job id, is the last of them, so it names one submission. The
schedulers' modules read their own ``qstat`` formats; this module only matches.
"""

from typing import Mapping, Optional


def submitted_from(jobs: Mapping[str, Mapping[str, object]], field: str,
                   script: str) -> Optional[str]:
    """The id of the job (or array) among ``jobs`` (attributes by job id) whose ``field``
    (the qsub arguments) ends with the script path ``script``; None if none does."""
    for native_id, attributes in jobs.items():
        arguments = attributes.get(field)
        if not isinstance(arguments, str):
            continue
        # A long value may be wrapped over lines in text output.
        arguments = ' '.join(arguments.split())
        if arguments == script or arguments.endswith(f' {script}'):
            return native_id
    return None
