#!/bin/bash
#SBATCH --job-name=true
#SBATCH --output="/shared/psij work/slurm/%j.out"
#SBATCH --error="/shared/psij work/slurm/%j.out"
#SBATCH --time=0-00:10:00
#SBATCH --ntasks=1
#SBATCH --constraint="haswell&ib"
#SBATCH --hold
#SBATCH --comment="nightly \"build\" #3 \\o/"
#SBATCH -C gpu
#SBATCH --mail-type=END,FAIL

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
export PSIJ_NODEFILE="$psij_prefix.nodefile"
psij_write_nodefile >"$PSIJ_NODEFILE"
psij_exit_code=
{ /bin/true; psij_exit_code=$?; } </dev/null >/dev/null 2>/dev/null
if [ -z "$psij_exit_code" ]; then
    psij_end 1 'the job'"'"'s standard streams cannot be opened on the node ()'
fi
psij_end "$psij_exit_code" "$(grep -a '^PSIJ-LAUNCHER-ERROR: ' '/shared/psij work/slurm/00000000-0000-4000-8000-000000000000.launcher.log' 2>/dev/null)"

