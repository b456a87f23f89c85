"""The outcome of a run: a capability matrix for people, a stable JSON document for tools."""

import json
import platform
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .target import Target

PASSED = 'passed'
FAILED = 'failed'
NOT_APPLICABLE = 'not_applicable'
REPORT_FORMAT = 'psij-conformance-report/1'

_MARKS = {PASSED: 'PASS', FAILED: 'FAIL', NOT_APPLICABLE: 'N/A'}


@dataclass
class CapabilityResult:
    """How one capability fared. ``reason`` says why it failed or does not apply."""

    id: str
    title: str
    result: str
    reason: Optional[str] = None
    seconds: float = 0.0


@dataclass
class Report:
    """Every capability's result for one target, in the suite's fixed order."""

    target: Target
    results: List[CapabilityResult] = field(default_factory=list)
    psij_version: str = ''
    executor_version: str = ''
    launcher_version: str = ''
    started: str = ''
    seconds: float = 0.0

    @property
    def failed(self) -> List[CapabilityResult]:
        """The capabilities that failed."""
        return [result for result in self.results if result.result == FAILED]

    def counts(self) -> Dict[str, int]:
        """How many capabilities passed, failed and did not apply."""
        counts = {PASSED: 0, FAILED: 0, NOT_APPLICABLE: 0}
        for result in self.results:
            counts[result.result] += 1
        return counts

    def to_json(self) -> Dict[str, Any]:
        """The report as a JSON-ready dict. Its keys and their order do not change within a
        ``format`` version; capabilities come in the suite's order, so two reports from
        different clusters can be compared line by line."""
        return {
            'format': REPORT_FORMAT,
            'target': {'executor': self.target.executor, 'launcher': self.target.launcher,
                       'url': self.target.url, 'queue': self.target.queue,
                       'account': self.target.account},
            'versions': {'psij': self.psij_version, 'executor': self.executor_version,
                         'launcher': self.launcher_version,
                         'python': platform.python_version()},
            'host': platform.node(),
            'started': self.started,
            'seconds': round(self.seconds, 1),
            'summary': self.counts(),
            'capabilities': [{'id': result.id, 'title': result.title,
                              'result': result.result, 'reason': result.reason,
                              'seconds': round(result.seconds, 1)}
                             for result in self.results],
        }

    def to_json_text(self) -> str:
        """`to_json` as indented text with a final newline."""
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False) + '\n'

    def to_text(self) -> str:
        """The capability matrix for a terminal."""
        width = max((len(result.id) for result in self.results), default=10)
        lines = [f'psij conformance: {self.target.label} (psij {self.psij_version})']
        for result in self.results:
            line = f'  {_MARKS[result.result]:<4}  {result.id:<{width}}  {result.seconds:6.1f} s'
            if result.reason:
                line += f'  {result.reason}'
            lines.append(line)
        counts = self.counts()
        lines.append(f'{counts[PASSED]} passed, {counts[FAILED]} failed, '
                     f'{counts[NOT_APPLICABLE]} not applicable in {self.seconds:.0f} s')
        return '\n'.join(lines) + '\n'

    def to_markdown(self) -> str:
        """The capability matrix as a Markdown document."""
        counts = self.counts()
        lines = [f'# psij conformance: `{self.target.label}`', '',
                 f'psij {self.psij_version}, executor {self.executor_version}, launcher '
                 f'{self.launcher_version}; host `{platform.node()}`; started {self.started}.',
                 '', f'**{counts[PASSED]} passed, {counts[FAILED]} failed, '
                 f'{counts[NOT_APPLICABLE]} not applicable** in {self.seconds:.0f} s.', '',
                 '| capability | result | what it checks | reason |',
                 '| --- | --- | --- | --- |']
        for result in self.results:
            reason = (result.reason or '').replace('|', '\\|').replace('\n', ' ')
            lines.append(f'| `{result.id}` | {_MARKS[result.result]} | {result.title} | '
                         f'{reason} |')
        return '\n'.join(lines) + '\n'
