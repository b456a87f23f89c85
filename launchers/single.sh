#!/usr/bin/env bash
# single.sh: the `single` launcher when the job has a pre_launch or post_launch script.
#
# Usage: single.sh [--log-file LOG] [--pre-launch SCRIPT] [--post-launch SCRIPT]
#            -- EXECUTABLE [ARGUMENT]...
#
# Sources the pre_launch script, runs one process in the foreground (it inherits this
# script's standard streams), sources the post_launch script (which sees the job's exit code
# in PSIJ_JOB_EXIT_CODE) and exits with the job's exit code.
set -u
source "${BASH_SOURCE[0]%/*}/launcher_lib.sh"
trap psij_on_exit EXIT
psij_parse_options "$@"
# pre/post_launch are sourced with no positional parameters of their own.
set --

if [[ -n $_psij_pre_launch ]]; then
    psij_begin_user_script pre_launch "$_psij_pre_launch"
    # shellcheck source=/dev/null
    source "$_psij_pre_launch"
    psij_end_user_script $?
fi

psij_run_command "${_psij_command[@]}"
PSIJ_JOB_EXIT_CODE=$?

if [[ -n $_psij_post_launch ]]; then
    psij_begin_user_script post_launch "$_psij_post_launch"
    # shellcheck source=/dev/null
    source "$_psij_post_launch"
    psij_end_user_script $?
fi
exit "$PSIJ_JOB_EXIT_CODE"
