#!/usr/bin/env bash
# faulty_slurm_command.sh -- test double: a Slurm client command (squeue, sacct) that fails,
# lies or works, as flag files say. The directory faulty_slurm_commands/ next to this file
# holds `squeue` and `sacct`, which run this script; a test puts that directory first on PATH.
#
# Usage: faulty_slurm_command.sh COMMAND [ARGUMENT]...
#
# Environment:
#   PSIJ_DOUBLE_FAULT_DIR            directory of the flag files below (required)
#   PSIJ_DOUBLE_REAL_<COMMAND>       absolute path of the real command (PSIJ_DOUBLE_REAL_SQUEUE...)
#
# Flag files in PSIJ_DOUBLE_FAULT_DIR, looked at on every call (first match wins):
#   COMMAND.fail        print its contents on stderr and exit 1 (the real command is not run)
#   COMMAND.garbage     print its contents on stdout and exit 0 (the real command is not run)
#   COMMAND.hide-final  (squeue only) run the real squeue and drop the lines of jobs in a final
#                       state, as if they had already left the queue; a lone job id that is
#                       left out gets squeue's own "Invalid job id specified" error
# Every call appends "COMMAND MODE" to PSIJ_DOUBLE_FAULT_DIR/calls.log.
set -u
command=$1
shift
flags=${PSIJ_DOUBLE_FAULT_DIR:?PSIJ_DOUBLE_FAULT_DIR is not set}
real_variable=PSIJ_DOUBLE_REAL_${command^^}
real=${!real_variable:?$real_variable is not set}

log() { printf '%s %s\n' "$command" "$1" >>"$flags/calls.log"; }

# A flag removed between the test and `cat` still counts: the call was already failing.
if [ -e "$flags/$command.fail" ]; then
    log fail
    cat -- "$flags/$command.fail" >&2 2>/dev/null
    exit 1
fi
if [ -e "$flags/$command.garbage" ]; then
    log garbage
    cat -- "$flags/$command.garbage" 2>/dev/null
    exit 0
fi
if [ "$command" = squeue ] && [ -e "$flags/$command.hide-final" ]; then
    log hide-final
    error_file=$(mktemp)
    output=$("$real" "$@" 2>"$error_file")
    status=$?
    cat -- "$error_file" >&2
    rm -f -- "$error_file"
    [ "$status" = 0 ] || exit "$status"
    final='^(COMPLETED|FAILED|CANCELLED|TIMEOUT|OUT_OF_MEMORY|NODE_FAIL|PREEMPTED|BOOT_FAIL|DEADLINE)'
    kept=$(printf '%s\n' "$output" | awk -F'|' -v final="$final" 'NF && $2 !~ final')
    ids=
    for argument in "$@"; do
        case $argument in --jobs=*) ids=${argument#--jobs=} ;; esac
    done
    if [ -z "$kept" ] && [ -n "$ids" ] && [ "${ids#*,}" = "$ids" ]; then
        echo 'slurm_load_jobs error: Invalid job id specified' >&2
        exit 1
    fi
    [ -z "$kept" ] || printf '%s\n' "$kept"
    exit 0
fi
log real
exec "$real" "$@"
