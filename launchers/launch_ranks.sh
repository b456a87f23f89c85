#!/usr/bin/env bash
# launch_ranks.sh: the srun, aprun and jsrun launchers, whose whole parallel launch command is
# worked out in Python (see psij.launchers._parallel_command).
#
# Usage: launch_ranks.sh [--log-file LOG] [--pre-launch SCRIPT] [--post-launch SCRIPT]
#            --process-count N --launcher-word WORD [--launcher-word WORD]...
#            --rank-variable NAME [--rank-variable NAME]... [--stdout PATH] [--stderr PATH]
#            -- EXECUTABLE [ARGUMENT]...
#
# The --launcher-word values, in order, are the launch command (e.g. srun -n 4). Its first
# word is looked up after pre_launch has run, since pre_launch may change PATH. Each rank
# runs through rank_wrapper.sh (see psij_run_ranks in launcher_lib.sh): the launch command's
# own messages go to the launcher log, and a failure to start any rank is reported as a
# launcher failure.
set -u
source "${BASH_SOURCE[0]%/*}/launcher_lib.sh"
trap psij_on_exit EXIT
psij_parse_options "$@"
# pre/post_launch are sourced with no positional parameters of their own.
set --
psij_reopen_output_for_appending

if [[ -n $_psij_pre_launch ]]; then
    psij_begin_user_script pre_launch "$_psij_pre_launch"
    # shellcheck source=/dev/null
    source "$_psij_pre_launch"
    psij_end_user_script $?
fi

if ! type -P -- "${_psij_launcher_command[0]}" >/dev/null; then
    psij_launcher_error "the launch command '${_psij_launcher_command[0]}' was not found on" \
        "PATH ($PATH)"
    exit 127
fi

psij_run_ranks "${_psij_launcher_command[@]}"

if [[ -n $_psij_post_launch ]]; then
    psij_begin_user_script post_launch "$_psij_post_launch"
    # shellcheck source=/dev/null
    source "$_psij_post_launch"
    psij_end_user_script $?
fi
exit "$PSIJ_JOB_EXIT_CODE"
