#!/usr/bin/env bash
# multiple.sh: the `multiple` launcher: N copies of one program on this node, in parallel.
#
# Usage: multiple.sh [--log-file LOG] [--pre-launch SCRIPT] [--post-launch SCRIPT]
#            --process-count N -- EXECUTABLE [ARGUMENT]...
#
# Sources the pre_launch script, starts the N copies, each with PSIJ_RANK (0 to N-1) and
# PSIJ_PROCESS_COUNT (N) exported, waits for them, sources the post_launch script (which
# sees the job's exit code in PSIJ_JOB_EXIT_CODE) and exits with the first non-zero exit
# code in rank order, or 0. All copies share this script's stdout and stderr; only rank 0
# reads its stdin (the others read /dev/null), as with mpirun.
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

# Runs in a background subshell: the exports and the exec only concern that copy. `exec` runs
# the program from PATH even if its name is a bash builtin or function.
psij_start_copy() {
    export PSIJ_RANK=$1 PSIJ_PROCESS_COUNT=$_psij_process_count
    exec -- "${_psij_command[@]}"
}

_psij_pids=()
for (( _psij_rank = 0; _psij_rank < _psij_process_count; _psij_rank++ )); do
    # A background command reads /dev/null unless its stdin is redirected explicitly.
    if (( _psij_rank == 0 )); then
        psij_start_copy "$_psij_rank" <&0 &
    else
        psij_start_copy "$_psij_rank" </dev/null &
    fi
    _psij_pids+=("$!")
done

PSIJ_JOB_EXIT_CODE=0
for _psij_pid in "${_psij_pids[@]}"; do
    wait "$_psij_pid"
    _psij_status=$?
    if (( PSIJ_JOB_EXIT_CODE == 0 && _psij_status != 0 )); then
        PSIJ_JOB_EXIT_CODE=$_psij_status
    fi
done

if [[ -n $_psij_post_launch ]]; then
    psij_begin_user_script post_launch "$_psij_post_launch"
    # shellcheck source=/dev/null
    source "$_psij_post_launch"
    psij_end_user_script $?
fi
exit "$PSIJ_JOB_EXIT_CODE"
