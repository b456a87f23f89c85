#!/bin/bash
#SBATCH --job-name=echo
#SBATCH --output="/shared/psij work/slurm/%A_%a.out"
#SBATCH --error="/shared/psij work/slurm/%A_%a.out"
#SBATCH --time=0-00:10:00
#SBATCH --ntasks=1
#SBATCH --array=0-49%5
#SBATCH --dependency=afterok:7,afterany:8_1
#SBATCH --kill-on-invalid-dep=yes

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
# An element of an array: its index (0 to count - 1) reaches the job and names its files.
export PSIJ_ARRAY_INDEX=$SLURM_ARRAY_TASK_ID
psij_prefix='/shared/psij work/slurm'/"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
psij_end() {
    (
        umask 077
        { printf '%d\n' "$1"; if [ -n "${2-}" ]; then printf '%s\n' "$2"; fi
          printf 'PSIJ-JOB: %s\n' 00000000-0000-4000-8000-000000000000-"$PSIJ_ARRAY_INDEX"; } >"$psij_prefix.ec.tmp"
        mv -f -- "$psij_prefix.ec.tmp" "$psij_prefix.ec"
    )
    exit "$1"
}
(umask 077 && { printf '%(%s)T\n' -1; printf 'PSIJ-JOB: %s\n' 00000000-0000-4000-8000-000000000000-"$PSIJ_ARRAY_INDEX"; } \
    >"$psij_prefix.started.tmp" && mv -f -- "$psij_prefix.started.tmp" "$psij_prefix.started")
export PSIJ_NODEFILE="$psij_prefix.nodefile"
psij_write_nodefile >"$PSIJ_NODEFILE"
psij_exit_code=
{ /bin/echo part "$PSIJ_ARRAY_INDEX"; psij_exit_code=$?; } </dev/null >/data/out."$PSIJ_ARRAY_INDEX" 2>/dev/null
if [ -z "$psij_exit_code" ]; then
    psij_end 1 'the job'"'"'s standard streams cannot be opened on the node (stdout_path='"'"'/data/out.{PSIJ_ARRAY_INDEX}'"'"')'
fi
psij_end "$psij_exit_code" "$(grep -a '^PSIJ-LAUNCHER-ERROR: ' '/shared/psij work/slurm/00000000-0000-4000-8000-000000000000-'"$PSIJ_ARRAY_INDEX".launcher.log 2>/dev/null)"

