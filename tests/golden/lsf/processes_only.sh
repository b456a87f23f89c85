#!/bin/bash
#BSUB -J hostname
#BSUB -Jd "psij-job 00000000-0000-4000-8000-000000000000"
#BSUB -o "/shared/psij work/lsf/%J.out"
#BSUB -e "/shared/psij work/lsf/%J.out"
#BSUB -W 2881
#BSUB -n 6
#BSUB -gpu "num=2/task"

# One line per process: each host of the job as many times as it runs processes. LSF lists
# the hosts with their slots ("hostA 8 hostB 8"); a process of N cores holds N slots.
psij_write_nodefile() {
    local words=() i j count
    read -ra words <<<"${LSB_MCPU_HOSTS:-}"
    if ((${#words[@]} < 2)); then
        printf '%s\n' "${HOSTNAME:-localhost}"
        return
    fi
    for ((i = 0; i + 1 < ${#words[@]}; i += 2)); do
        count=$((words[i + 1] / 1))
        ((count > 0)) || count=1
        for ((j = 0; j < count; j++)); do printf '%s\n' "${words[i]}"; done
    done
}

# --- Written by psij. Everything below runs on the job's lead node. ---
# Markers for the executor, named after the scheduler's job id: <id>.started when the job
# starts, <id>.ec with its exit code (and any launcher error) when it ends, and psij's own job
# id (a scheduler may reuse its ids; a marker of another job is not evidence). Written
# user-only (umask in a subshell, so the job's own files keep the job's umask).
psij_prefix='/shared/psij work/lsf'/"$LSB_JOBID"
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
{ /bin/hostname; psij_exit_code=$?; } </dev/null >/dev/null 2>/dev/null
if [ -z "$psij_exit_code" ]; then
    psij_end 1 'the job'"'"'s standard streams cannot be opened on the node ()'
fi
psij_end "$psij_exit_code" "$(grep -a '^PSIJ-LAUNCHER-ERROR: ' '/shared/psij work/lsf/00000000-0000-4000-8000-000000000000.launcher.log' 2>/dev/null)"

