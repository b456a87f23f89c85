"""The shell script each job of a campaign runs, and the result file it leaves.

A job runs ``/bin/bash <logs>/<job>.sh ATTEMPT``, ATTEMPT being psij's job id of that
submission. The script

1. writes ``<job>.result`` afresh (under a temporary name, then renamed, so a reader never
   sees a previous attempt's file half replaced) with the attempt, its pid and host: the
   evidence that this submission reached the executor and started;
2. runs the [pre] lines in its own shell (so ``conda activate``, ``module load``, ``cd``
   carry over to the commands); the first that fails stops the job: no command runs;
3. runs each command in a subshell of its own, whatever the previous ones did, with
   ``PSIJ_CAMPAIGN_LINE`` set to its map line; appends ``command INDEX CODE`` as each ends;
4. runs the [post] lines, each in a subshell (after the commands, whether they succeeded or
   not; the first that fails stops the others);
5. appends ``exit CODE TIME`` and exits with CODE: 0, or the exit code of the first step
   that failed (a command, a pre or a post line), which is also named on stderr. This is
   done by an EXIT trap, so it also happens when the shell itself ends during a step (an
   ``exit`` in a [pre] line, ``set -e``, SIGTERM): that step failed (with 1 if its code
   was 0: the commands after it did not run).

Every line of the map is put in the script single-quoted and run with ``eval``: a command is
exactly the text written in the map, and a syntax error in one is that command failing (exit
status 2), not the script. `parse_result` reads the file back; the two live here together.
"""

import shlex
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from psij.campaigns.expansion import Command
from psij.campaigns.map_format import MapLine

#: The interpreter of every job: the commands are shell lines, and bash is where they are
#: written for on clusters (``module``, ``conda activate``).
SHELL = '/bin/bash'

_PRELUDE = r'''psij_attempt=${{1-}}
set --
psij_result={result}
psij_failed=0
psij_stop=
psij_post_stop=
psij_kind=
export PSIJ_CAMPAIGN_LOGS={logs} PSIJ_CAMPAIGN_JOB={job}
psij_now() {{  # the time, to the microsecond where bash can tell (5.0 on)
    if [ -n "${{EPOCHREALTIME-}}" ]; then printf '%s' "$EPOCHREALTIME"; else printf '%(%s)T' -1; fi
}}
{{ printf 'attempt %s\npid %s\nhost %s\nstarted %s\n' "$psij_attempt" "$$" \
    "${{HOSTNAME-}}" "$(psij_now)" >"$psij_result.tmp.$$" && mv -f -- "$psij_result.tmp.$$" \
    "$psij_result"; }} || echo "psij campaign: cannot write $psij_result" >&2
psij_at() {{ psij_kind=$1; psij_where=$2; psij_what=$3; }}  # a step begins: KIND WHERE TEXT
psij_step() {{  # CODE: the step psij_at announced has ended
    printf '%s %s %s\n' "$psij_kind" "$psij_where" "$1" >>"$psij_result"
    if [ "$1" -ne 0 ]; then
        [ "$psij_failed" -ne 0 ] || psij_failed=$1
        printf 'psij campaign: %s exited with %s\n' "$psij_what" "$1" >&2
        case $psij_kind in pre) psij_stop=1 ;; post) psij_post_stop=1 ;; esac
    fi
    psij_kind=
}}
psij_end() {{  # however the shell ends (its last line, an exit in [pre], set -e): finish
    psij_code=$?
    trap - EXIT
    if [ -n "$psij_kind" ]; then
        [ "$psij_code" -ne 0 ] || psij_code=1
        psij_what="$psij_what (it ended the job's shell)"
        psij_step "$psij_code"
    fi
    printf 'exit %s %s\n' "$psij_failed" "$(psij_now)" >>"$psij_result"
    exit "$psij_failed"
}}
trap psij_end EXIT
# A signal (a time limit, a cancel) ends the step under way with 128+N, once that step has
# ended (its processes got the signal too), and the EXIT trap then records it.
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
'''


def describe_command(index: int, count: int, line: int) -> str:
    """How a job's messages name one of its commands: ``map line 6``, or ``command 2 of 5
    (map line 6)`` in a job of several."""
    return f'map line {line}' if count == 1 else f'command {index} of {count} (map line {line})'


def render_script(job: str, logs: str, result: str, commands: Sequence[Command],
                  pre: Sequence[MapLine], post: Sequence[MapLine]) -> str:
    """The script of job ``job``, whose result file is ``result``, in the logs folder
    ``logs`` (absolute paths)."""
    count = len(commands)
    lines = [f'#!{SHELL}',
             f'# Job {job} of the psij campaign in {logs}: map line(s) '
             f'{", ".join(str(command.line) for command in commands)}.',
             f'# Written by psij; the job runs it as: {SHELL} {job}.sh ATTEMPT',
             _PRELUDE.format(result=shlex.quote(result), logs=shlex.quote(logs),
                             job=shlex.quote(job)).rstrip('\n')]
    for entry in pre:
        # In the job's shell: what a [pre] line sets (conda activate, cd) stays for the rest.
        lines.append(f'if [ -z "$psij_stop" ]; then psij_at pre {entry.number} '
                     f'{shlex.quote(f"[pre] map line {entry.number}")}; '
                     f'eval {shlex.quote(entry.text)}; psij_step $?; fi')
    for index, command in enumerate(commands, start=1):
        lines.append(f'if [ -z "$psij_stop" ]; then psij_at command {index} '
                     f'{shlex.quote(describe_command(index, count, command.line))}; '
                     f'(export PSIJ_CAMPAIGN_LINE={command.line}; '
                     f'eval {shlex.quote(command.text)}); psij_step $?; fi')
    for entry in post:
        lines.append(f'if [ -z "$psij_stop$psij_post_stop" ]; then psij_at post {entry.number} '
                     f'{shlex.quote(f"[post] map line {entry.number}")}; '
                     f'(eval {shlex.quote(entry.text)}); psij_step $?; fi')
    return '\n'.join(lines) + '\n'


@dataclass
class RunResult:
    """What a job's result file says about one attempt."""

    attempt: str
    pid: Optional[int] = None
    host: Optional[str] = None
    started: Optional[float] = None
    #: Command index (1-based) → its exit code, for the commands that ended.
    commands: Dict[int, int] = field(default_factory=dict)
    #: The failed [pre] or [post] step: (``pre`` or ``post``, map line, exit code).
    failed_setup: Optional[Tuple[str, int, int]] = None
    #: The job's exit code and end time, once the script got to its end.
    exit_code: Optional[int] = None
    ended: Optional[float] = None

    @property
    def complete(self) -> bool:
        """True once the script has written its last line."""
        return self.exit_code is not None


def parse_result(text: str) -> Optional[RunResult]:
    """The contents of a result file, or None if it does not even name its attempt (a line
    being written at the end is ignored until it is whole)."""
    lines = text.split('\n')
    complete_lines = lines[:-1]  # the last element is '' or a line still being written
    if not complete_lines or not complete_lines[0].startswith('attempt '):
        return None
    result = RunResult(complete_lines[0][len('attempt '):])
    for line in complete_lines[1:]:
        words = line.split(' ')
        try:
            _read_line(result, words)
        except (ValueError, IndexError):
            continue  # a line psij did not write: not evidence of anything
    return result


def _read_line(result: RunResult, words: List[str]) -> None:
    kind = words[0]
    if kind == 'pid':
        result.pid = int(words[1])
    elif kind == 'host':
        result.host = ' '.join(words[1:]) or None
    elif kind == 'started':
        result.started = _time(words[1])
    elif kind == 'command':
        result.commands[int(words[1])] = int(words[2])
    elif kind in ('pre', 'post'):
        code = int(words[2])
        if code != 0 and result.failed_setup is None:
            result.failed_setup = (kind, int(words[1]), code)
    elif kind == 'exit':
        result.exit_code = int(words[1])
        result.ended = _time(words[2])


def _time(text: str) -> float:
    # EPOCHREALTIME uses the locale's decimal separator (a comma in some).
    return float(text.replace(',', '.'))
