#!/usr/bin/env bash
# rank_wrapper.sh: runs one rank of a job started by mpirun, srun, aprun or jsrun.
#
# Usage: rank_wrapper.sh --status-directory DIR --log-file LOG --process-count N
#            --rank-variable NAME [--rank-variable NAME]... [--stdout PATH] [--stderr PATH]
#            -- EXECUTABLE [ARGUMENT]...
#
# The rank is read from the first --rank-variable that is set (OMPI_COMM_WORLD_RANK,
# SLURM_PROCID...) and exported as PSIJ_RANK, with PSIJ_PROCESS_COUNT. The rank's stdout and
# stderr are appended to the job's files (every rank writes to the same files, so none may
# truncate them); without --stdout/--stderr they stay those of the parallel launcher, i.e.
# the launcher log. The command's exit code is recorded in DIR/rank-RANK for the launcher
# script, and is also this script's exit code.
set -u
source "${BASH_SOURCE[0]%/*}/launcher_lib.sh"
psij_parse_options "$@"

_psij_rank=''
for _psij_variable in "${_psij_rank_variables[@]}"; do
    if [[ -n ${!_psij_variable-} ]]; then
        _psij_rank=${!_psij_variable}
        break
    fi
done
if [[ ! $_psij_rank =~ ^[0-9]+$ ]]; then
    psij_launcher_error "cannot tell which rank this process is: none of the variables" \
        "${_psij_rank_variables[*]} holds a rank number (on $(hostname))"
    exit 1
fi
export PSIJ_RANK=$_psij_rank
export PSIJ_PROCESS_COUNT=$_psij_process_count

if [[ -n $_psij_stdout ]] && ! exec >>"$_psij_stdout"; then
    psij_launcher_error "rank $_psij_rank cannot open the job's stdout '$_psij_stdout'" \
        "for appending"
    exit 1
fi
if [[ -n $_psij_stderr ]] && ! exec 2>>"$_psij_stderr"; then
    psij_launcher_error "rank $_psij_rank cannot open the job's stderr '$_psij_stderr'" \
        "for appending"
    exit 1
fi

psij_run_command "${_psij_command[@]}"
_psij_status=$?

if ! printf '%s\n' "$_psij_status" 2>/dev/null \
        >"$_psij_status_directory/rank-$_psij_rank"; then
    psij_launcher_error "rank $_psij_rank cannot record its exit code in" \
        "'$_psij_status_directory' (on $(hostname))"
fi
exit "$_psij_status"
