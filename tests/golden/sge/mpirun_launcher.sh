#!/bin/bash
#$ -S /bin/bash
#$ -N hostname
#$ -o "/shared/psij work/sge/$JOB_ID.out"
#$ -j y
#$ -cwd
#$ -l h_rt=0:10:00
#$ -pe mpi 2
#$ -V
#$ -notify

# One line per process slot: each host Grid Engine granted, as many times as it has slots
# there ($PE_HOSTFILE lines are "host slots queue processors").
psij_write_nodefile() {
    local host slots rest i
    while read -r host slots rest; do
        for ((i = 0; i < slots; i++)); do printf '%s\n' "$host"; done
    done <"$PE_HOSTFILE"
}

# --- Written by psij. Everything below runs on the job's lead node. ---
# Markers for the executor, named after the scheduler's job id: <id>.started when the job
# starts, <id>.ec with its exit code (and any launcher error) when it ends, and psij's own job
# id (a scheduler may reuse its ids; a marker of another job is not evidence). Written
# user-only (umask in a subshell, so the job's own files keep the job's umask).
psij_prefix='/shared/psij work/sge'/"$JOB_ID"
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
{ env -- bash <LAUNCHERS>/mpirun.sh --log-file '/shared/psij work/sge/00000000-0000-4000-8000-000000000000.launcher.log' --pre-launch /home/u/pre.sh --post-launch /home/u/post.sh --process-count 2 -- /bin/hostname; psij_exit_code=$?; } </dev/null >/dev/null 2>/dev/null
if [ -z "$psij_exit_code" ]; then
    psij_end 1 'the job'"'"'s standard streams cannot be opened on the node ()'
fi
psij_end "$psij_exit_code" "$(grep -a '^PSIJ-LAUNCHER-ERROR: ' '/shared/psij work/sge/00000000-0000-4000-8000-000000000000.launcher.log' 2>/dev/null)"

