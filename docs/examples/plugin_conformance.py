"""Run part of the conformance suite from Python (or from a pytest test), here against the
example third-party plugin `detached` (tests/third_party_plugin, installed by .ci/setup)."""

from psij.conformance import PASSED, Target, run_suite

target = Target('detached', 'single', duration_limit=3)
report = run_suite(target, only=['submit-complete', 'exit-code', 'cancel-running',
                                 'duration-limit'])
print(report.to_text())
assert not report.failed, report.to_text()
assert [result.result for result in report.results] == [PASSED] * 4
