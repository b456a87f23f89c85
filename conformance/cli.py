"""``python -m psij.conformance``: run the suite from a shell."""

import argparse
import pathlib
import sys
from typing import Dict, List, Optional

from psij.plugins import PluginLoadError

from .report import FAILED, CapabilityResult
from .runner import capability_ids, run_suite
from .target import Target, parse_target_name

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

EPILOG = f'''capabilities, in order: {", ".join(capability_ids())}

exit status: {EXIT_PASSED} every capability passed or does not apply; {EXIT_FAILED} at least
one failed; {EXIT_USAGE} bad arguments, or the executor or launcher cannot be loaded.'''


def _attribute(text: str) -> tuple[str, object]:
    key, equals, value = text.partition('=')
    if not equals or not key:
        raise argparse.ArgumentTypeError(f'{text!r} is not KEY=VALUE')
    lowered = value.lower()
    return key, True if lowered == 'true' else False if lowered == 'false' else value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='python -m psij.conformance',
        description='Check that a PSI/J executor (and launcher) honours the API contract by '
                    'running real jobs through it.',
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('target', metavar='EXECUTOR[:LAUNCHER]',
                        help='e.g. local, local:multiple, slurm:srun (launcher: single)')
    parser.add_argument('--url', help='the executor URL, if it needs one')
    parser.add_argument('--queue', help='queue (partition) for every job')
    parser.add_argument('--account', help='account (project) for every job')
    parser.add_argument('--report', type=pathlib.Path, metavar='FILE.md|FILE.json',
                        help='also write the report: Markdown or JSON, chosen by the suffix')
    parser.add_argument('--only', metavar='ID,ID', help='run only these capabilities')
    parser.add_argument('--hold', type=_attribute, action='append', metavar='KEY=VALUE',
                        help='a custom attribute that keeps a job queued (for cancel-queued)')
    parser.add_argument('--attr', type=_attribute, action='append', metavar='KEY=VALUE',
                        help='a custom attribute for every job')
    parser.add_argument('--duration-limit', type=float, metavar='SECONDS',
                        help='the duration limit the duration-limit check sets')
    parser.add_argument('--many', type=int, default=200, metavar='N',
                        help='jobs in the many-jobs check (default 200)')
    parser.add_argument('--parallel', type=int, default=4, metavar='N',
                        help='capabilities run at once (default 4)')
    parser.add_argument('--timeout-scale', type=float, default=1.0, metavar='X',
                        help='multiply every wait of the suite by X (slow sites)')
    parser.add_argument('--scratch', type=pathlib.Path, metavar='DIR',
                        help='where job files go; must be visible to compute nodes '
                             '(default ~/.psij/conformance/...)')
    parser.add_argument('--keep-files', action='store_true',
                        help='keep the scratch directory even when everything passed')
    return parser


def _print_progress(result: CapabilityResult) -> None:
    line = f'{result.result:>14}  {result.id} ({result.seconds:.1f} s)'
    if result.result == FAILED and result.reason:
        line += f': {result.reason}'
    print(line, file=sys.stderr, flush=True)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the suite as the command line says; the exit status is documented in --help."""
    parser = _parser()
    options = parser.parse_args(argv)
    if options.report is not None and options.report.suffix not in ('.md', '.json'):
        parser.error(f'--report {options.report}: the file name must end in .md or .json')
    for name, value, low in (('--many', options.many, 1), ('--parallel', options.parallel, 1)):
        if value < low:
            parser.error(f'{name} must be at least {low}, not {value}')
    try:
        names = parse_target_name(options.target)
    except ValueError as error:
        parser.error(str(error))
    hold: Optional[Dict[str, object]] = dict(options.hold) if options.hold else None
    target = Target(names['executor'], names['launcher'], url=options.url,
                    queue=options.queue, account=options.account, hold_attributes=hold,
                    duration_limit=options.duration_limit, many_jobs=options.many,
                    timeout_scale=options.timeout_scale,
                    extra_attributes=dict(options.attr or []))
    only = [name.strip() for name in options.only.split(',')] if options.only else None
    try:
        report = run_suite(target, only=only, parallel=options.parallel,
                           scratch=options.scratch, keep_files=options.keep_files,
                           on_result=_print_progress)
    except (ValueError, PluginLoadError) as error:
        print(f'python -m psij.conformance: error: {error}', file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.write(report.to_text())
    if options.report is not None:
        text = report.to_json_text() if options.report.suffix == '.json' \
            else report.to_markdown()
        options.report.write_text(text)
    return EXIT_FAILED if report.failed else EXIT_PASSED
