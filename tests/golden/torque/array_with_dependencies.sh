#!/bin/bash
#PBS -N echo
#PBS -S /bin/bash
#PBS -j oe
#PBS -o /dev/null
#PBS -l walltime=00:10:00
#PBS -l nodes=1:ppn=1
#PBS -t 0-49%5
#PBS -W depend=afterok:7.server,afterany:8[2].server

# Slurm's Torque-compatible commands (slurm-wlm-torque) run the job under Slurm, which sets
# SLURM_JOB_ID but not PBS_JOBID.
: "${PBS_JOBID:=${SLURM_JOB_ID:?neither PBS_JOBID nor SLURM_JOB_ID is set}}"
# The script's own messages (a directory that cannot be entered...) go next to its markers.
exec >'/shared/psij work/torque'/"${PBS_JOBID}.out" 2>&1
# Like sbatch and the local executor, start where the job was submitted (Torque starts in
# $HOME).
cd -- "${PBS_O_WORKDIR:-.}" 2>/dev/null || true
# One line per process slot: Torque writes each node once per processor (ppn).
psij_write_nodefile() {
    local i
    if [ -n "${PBS_NODEFILE-}" ]; then
        cat -- "$PBS_NODEFILE"
    else
        # No node file (Slurm's Torque-compatible commands): this host, once per process.
        for ((i = 0; i < 1; i++)); do hostname; done
    fi
}

# --- Written by psij. Everything below runs on the job's lead node. ---
# Markers for the executor, named after the scheduler's job id: <id>.started when the job
# starts, <id>.ec with its exit code (and any launcher error) when it ends, and psij's own job
# id (a scheduler may reuse its ids; a marker of another job is not evidence). Written
# user-only (umask in a subshell, so the job's own files keep the job's umask).
# An element of an array: its index (0 to count - 1) reaches the job and names its files.
export PSIJ_ARRAY_INDEX=$PBS_ARRAYID
psij_prefix='/shared/psij work/torque'/"${PBS_JOBID}"
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
psij_end "$psij_exit_code" "$(grep -a '^PSIJ-LAUNCHER-ERROR: ' '/shared/psij work/torque/00000000-0000-4000-8000-000000000000-'"$PSIJ_ARRAY_INDEX".launcher.log 2>/dev/null)"

