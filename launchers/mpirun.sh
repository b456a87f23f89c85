#!/usr/bin/env bash
# mpirun.sh: the `mpirun` launcher.
#
# Usage: mpirun.sh [--log-file LOG] [--pre-launch SCRIPT] [--post-launch SCRIPT]
#            --process-count N [--processes-per-node M] [--stdout PATH] [--stderr PATH]
#            [--forward-variable NAME]... -- EXECUTABLE [ARGUMENT]...
#
# The mpirun command is $PSIJ_MPIRUN (default: mpirun; one command name or path, not split
# into words), looked up after pre_launch has run since pre_launch may load an MPI module.
# `mpirun --version` tells which options it takes:
#   Open MPI (it prints "Open MPI", or "OpenRTE" when called by another name):
#              mpirun --allow-run-as-root --oversubscribe -n N [--map-by ppr:M:node]
#                     [--hostfile $PSIJ_NODEFILE] [-x NAME]...
#   otherwise (Hydra: MPICH, Intel MPI, MVAPICH):
#              mpirun -n N [-ppn M] [-f $PSIJ_NODEFILE]
# --allow-run-as-root and --oversubscribe cost nothing when not needed, and without them
# Open MPI refuses to run in containers (root) or more ranks than cores.
# The node file is given only when it names more than one host: on a single host its
# one-slot-per-line rules only get in the way.
# Open MPI does not pass the environment to ranks it starts on other hosts, so -x forwards
# the job's environment variables (--forward-variable) and every variable pre_launch exported
# or changed; Hydra passes the whole environment by default.
#
# Each rank runs through rank_wrapper.sh (see psij_run_ranks in launcher_lib.sh): mpirun's
# own messages go to the launcher log, never into the job's output, and a failure of mpirun
# to start any rank is reported as a launcher failure.
set -u
source "${BASH_SOURCE[0]%/*}/launcher_lib.sh"
trap psij_on_exit EXIT

declare -A _psij_exports_before_pre_launch=()

psij_remember_exported_variables() {
    local name
    for name in $(compgen -e); do
        _psij_exports_before_pre_launch[$name]=${!name-}
    done
}

psij_forward_variables_changed_by_pre_launch() {
    local name
    for name in $(compgen -e); do
        if [[ -z ${_psij_exports_before_pre_launch[$name]+set} \
                || ${_psij_exports_before_pre_launch[$name]} != "${!name-}" ]]; then
            _psij_forward_variables+=("$name")
        fi
    done
}

psij_node_file_has_several_hosts() {
    if [[ -z ${PSIJ_NODEFILE-} || ! -f $PSIJ_NODEFILE ]]; then
        return 1
    fi
    local host_count
    host_count=$(grep -v '^[[:space:]]*$' -- "$PSIJ_NODEFILE" | sort -u | wc -l)
    (( host_count > 1 ))
}

psij_parse_options "$@"
# pre/post_launch are sourced with no positional parameters of their own.
set --
psij_reopen_output_for_appending
psij_remember_exported_variables

if [[ -n $_psij_pre_launch ]]; then
    psij_begin_user_script pre_launch "$_psij_pre_launch"
    # shellcheck source=/dev/null
    source "$_psij_pre_launch"
    psij_end_user_script $?
fi

_psij_mpirun=${PSIJ_MPIRUN:-mpirun}
if ! type -P -- "$_psij_mpirun" >/dev/null; then
    psij_launcher_error "the mpirun command '$_psij_mpirun' was not found (set PSIJ_MPIRUN" \
        "to the mpirun to use; PATH is $PATH)"
    exit 127
fi

_psij_mpirun_version=$("$_psij_mpirun" --version 2>&1)
_psij_mpirun_command=("$_psij_mpirun")
if [[ $_psij_mpirun_version == *'Open MPI'* || $_psij_mpirun_version == *OpenRTE* ]]; then
    _psij_mpirun_command+=(--allow-run-as-root --oversubscribe -n "$_psij_process_count")
    # Open MPI refuses to start without its rsh agent on PATH, even on one host; a job with
    # inherit_environment=False has no PATH, only bash's unexported default: export that one
    # (so the ranks see it too).
    if [[ $(declare -p PATH 2>/dev/null) != 'declare -x'* ]]; then
        export PATH
    fi
    if [[ -n $_psij_processes_per_node ]]; then
        _psij_mpirun_command+=(--map-by "ppr:$_psij_processes_per_node:node")
    fi
    if psij_node_file_has_several_hosts; then
        _psij_mpirun_command+=(--hostfile "$PSIJ_NODEFILE")
    fi
    psij_forward_variables_changed_by_pre_launch
    # `${a[@]+"${a[@]}"}`: an empty array is an unbound variable under `set -u` in bash < 4.4.
    for _psij_variable in ${_psij_forward_variables[@]+"${_psij_forward_variables[@]}"}; do
        _psij_mpirun_command+=(-x "$_psij_variable")
    done
    _psij_rank_variables=(OMPI_COMM_WORLD_RANK)
else
    if [[ $_psij_mpirun_version != *HYDRA* ]]; then
        psij_log_note "'$_psij_mpirun --version' names neither Open MPI nor HYDRA;" \
            "using MPICH options"
    fi
    _psij_mpirun_command+=(-n "$_psij_process_count")
    if [[ -n $_psij_processes_per_node ]]; then
        _psij_mpirun_command+=(-ppn "$_psij_processes_per_node")
    fi
    if psij_node_file_has_several_hosts; then
        _psij_mpirun_command+=(-f "$PSIJ_NODEFILE")
    fi
    _psij_rank_variables=(PMI_RANK PMIX_RANK)
fi

psij_run_ranks "${_psij_mpirun_command[@]}"

if [[ -n $_psij_post_launch ]]; then
    psij_begin_user_script post_launch "$_psij_post_launch"
    # shellcheck source=/dev/null
    source "$_psij_post_launch"
    psij_end_user_script $?
fi
exit "$PSIJ_JOB_EXIT_CODE"
