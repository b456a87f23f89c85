"""The PSI/J conformance suite: real jobs through an executor prove that it honours the API.

From a shell: ``python -m psij.conformance EXECUTOR[:LAUNCHER] [--report FILE.json]``.
From Python or pytest::

    from psij.conformance import Target, run_suite
    report = run_suite(Target('slurm', 'srun'))
    assert not report.failed, report.to_text()

Each capability is a named check (``capability_ids()`` lists them); a run gives every one
the result passed, failed (with the reason) or not applicable (with the reason).
"""

from .capability import Capability, all_capabilities
from .errors import CheckFailed, NotApplicable
from .report import FAILED, NOT_APPLICABLE, PASSED, CapabilityResult, Report
from .runner import capability_ids, run_capability, run_suite
from .target import KNOWN_HINTS, ExecutorHints, Target, parse_target_name

__all__ = [
    'FAILED',
    'KNOWN_HINTS',
    'NOT_APPLICABLE',
    'PASSED',
    'Capability',
    'CapabilityResult',
    'CheckFailed',
    'ExecutorHints',
    'NotApplicable',
    'Report',
    'Target',
    'all_capabilities',
    'capability_ids',
    'parse_target_name',
    'run_capability',
    'run_suite',
]
