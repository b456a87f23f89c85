#!/bin/bash
#SBATCH --job-name=true
#SBATCH --output="/shared/psij work/slurm/%j.out"
#SBATCH --error="/shared/psij work/slurm/%j.out"
#SBATCH --time=0-00:10:00
#SBATCH --ntasks=1

# One line per process slot: each node of the job as many times as it has tasks.
psij_write_nodefile() {
    local nodes=() counts=() entries=() entry i j
    # One node needs no controller RPC: the node list is its name.
    if [[ $SLURM_JOB_NODELIST =~ ^[^],[]+$ ]]; then
        nodes=("$SLURM_JOB_NODELIST")
    else
        mapfile -t nodes < <(scontrol show hostnames "$SLURM_JOB_NODELIST")
    fi
    IFS=, read -ra entries <<<"${SLURM_TASKS_PER_NODE:-1}"
    for entry in "${entries[@]}"; do
        if [[ $entry =~ ^([0-9]+)\(x([0-9]+)\)$ ]]; then
            for ((i = 0; i < BASH_REMATCH[2]; i++)); do counts+=("${BASH_REMATCH[1]}"); done
        else
            counts+=("$entry")
        fi
    done
    for ((i = 0; i < ${#nodes[@]}; i++)); do
        for ((j = 0; j < ${counts[i]:-1}; j++)); do printf '%s\n' "${nodes[i]}"; done
    done
}

# --- Written by psij. Everything below runs on the job's lead node. ---
# Markers for the executor, named after the scheduler's job id: <id>.started when the job
# starts, <id>.ec with its exit code (and any launcher error) when it ends, and psij's own job
# id (a scheduler may reuse its ids; a marker of another job is not evidence). Written
# user-only (umask in a subshell, so the job's own files keep the job's umask).
psij_prefix='/shared/psij work/slurm'/"$SLURM_JOB_ID"
psij_end() {
    (
        umask 077
        { printf '%d\n' "$1"; if [ -n "${2-}" ]; then printf '%s\n' "$2"; fi
          printf 'PSIJ-JOB: %s\n' 00000000-0000-4000-8000-000000000000; } >"$psij_prefix.ec.tmp"
        mv -f -- "$psij_prefix.ec.tmp" "$psij_prefix.ec"
    )
    exit "$1"
}
(umask 077 && { printf '%(%s)T\n' -1; printf 'PSIJ-JOB: %s\n' 00000000-0000-4000-8000-000000000000; } \
    >"$psij_prefix.started.tmp" && mv -f -- "$psij_prefix.started.tmp" "$psij_prefix.started")
cd -- /scratch/run || psij_end 1 'JobSpec.directory '"'"'/scratch/run'"'"' cannot be entered on the node'
# Staging (JobSpec.stage_in, stage_out). psij_stage MODE OPTIONAL SOURCE TARGET: copy (cp -R),
# link (a symbolic link to the absolute source) or move; missing parents of TARGET are made;
# OPTIONAL=1: a missing SOURCE is not an error. Errors are printed, for the job's message.
psij_stage() {
    local source=$3 target=$4
    [[ $source = /* ]] || source=$PWD/$source
    if [ ! -e "$source" ] && [ ! -L "$source" ]; then
        [ "$2" = 1 ] && return 0
        printf 'no such file or directory\n'
        return 1
    fi
    mkdir -p -- "$(dirname -- "$target")" || return 1
    case $1 in
        copy) cp -R -T -- "$source" "$target" ;;
        link) ln -s -f -T -- "$source" "$target" ;;
        move) mv -f -T -- "$source" "$target" ;;
    esac
}
# Removes PATH unless it (its parent directories resolved) is outside the job's directory.
psij_clean() {
    local top parent
    top=$(pwd -P) && parent=$(realpath -m -- "$(dirname -- "$1")") || return 0
    case $parent/ in
        "$top"/*) rm -rf -- "$parent/$(basename -- "$1")" ;;
        *) printf 'psij: cleanup: %s is outside the job directory; left alone\n' "$1" ;;
    esac
}
export PSIJ_NODEFILE="$psij_prefix.nodefile"
psij_write_nodefile >"$PSIJ_NODEFILE"
psij_exit_code=
{ /bin/true; psij_exit_code=$?; } </dev/null >/dev/null 2>/dev/null
if [ -z "$psij_exit_code" ]; then
    psij_exit_code=1 psij_message='the job'"'"'s standard streams cannot be opened on the node ()'
else
    psij_message=$(grep -a '^PSIJ-LAUNCHER-ERROR: ' '/shared/psij work/slurm/00000000-0000-4000-8000-000000000000.launcher.log' 2>/dev/null)
fi
# The outcome stage-out and cleanup flags are checked against (a canceled job's script is
# killed by the scheduler before it gets here: psij stages ON_CANCEL after the job's end).
psij_outcome=error
[ "$psij_exit_code" = 0 ] && psij_outcome=success
psij_stage_errors=()
if [[ ' error ' = *" $psij_outcome "* ]] &&
        ! psij_error=$(psij_stage move 1 core /home/u/core 2>&1); then
    psij_stage_errors+=('JobSpec.stage_out: cannot move '"'"'core'"'"' to '"'"'/home/u/core'"'"''": ${psij_error//$'\n'/; }")
fi
if [[ ' success error ' = *" $psij_outcome "* ]] &&
        ! psij_error=$(psij_stage copy 1 'it'"'"'s.log' /home/u/logs 2>&1); then
    psij_stage_errors+=('JobSpec.stage_out: cannot copy "it'"'"'s.log" to '"'"'/home/u/logs'"'"''": ${psij_error//$'\n'/; }")
fi
if [[ ' success ' = *" $psij_outcome "* ]] &&
        ! psij_error=$(psij_stage copy 0 result.txt /home/u/results/result.txt 2>&1); then
    psij_stage_errors+=('JobSpec.stage_out: cannot copy '"'"'result.txt'"'"' to '"'"'/home/u/results/result.txt'"'"''": ${psij_error//$'\n'/; }")
fi
if [ ${#psij_stage_errors[@]} -gt 0 ]; then
    [ "$psij_exit_code" = 0 ] && psij_exit_code=1
    psij_message=$(printf '%s\n' "$psij_message" "${psij_stage_errors[@]}")
fi
if [[ ' success ' = *" $psij_outcome "* ]]; then
    psij_clean 'scratch/it'"'"'s'
    psij_clean tmp
fi
psij_end "$psij_exit_code" "$psij_message"

