#!/bin/bash
#PBS -N echo
#PBS -S /bin/bash
#PBS -j oe
#PBS -o /dev/null
#PBS -l walltime=00:10:00
#PBS -l select=1:ncpus=1:mpiprocs=1
#PBS -J 0-49%5
#PBS -W depend=afterok:7.server,afterany:8.server

# The script's own messages (a directory that cannot be entered...) go next to its markers.
exec >'/shared/psij work/pbs'/"${PBS_JOBID}.out" 2>&1
# Like sbatch and the local executor, start where the job was submitted (PBS starts in $HOME).
cd -- "${PBS_O_WORKDIR:-.}" 2>/dev/null || true
# One line per process slot: PBS writes each chunk's host once per MPI process (mpiprocs).
psij_write_nodefile() {
    cat -- "${PBS_NODEFILE:?PBS did not set PBS_NODEFILE}"
}

# --- Written by psij. Everything below runs on the job's lead node. ---
# Markers for the executor, named after the scheduler's job id: <id>.started when the job
# starts, <id>.ec with its exit code (and any launcher error) when it ends, and psij's own job
# id (a scheduler may reuse its ids; a marker of another job is not evidence). Written
# user-only (umask in a subshell, so the job's own files keep the job's umask).
# An element of an array: its index (0 to count - 1) reaches the job and names its files.
export PSIJ_ARRAY_INDEX=$PBS_ARRAY_INDEX
psij_prefix='/shared/psij work/pbs'/"${PBS_JOBID}"
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
psij_end "$psij_exit_code" "$(grep -a '^PSIJ-LAUNCHER-ERROR: ' '/shared/psij work/pbs/00000000-0000-4000-8000-000000000000-'"$PSIJ_ARRAY_INDEX".launcher.log 2>/dev/null)"

