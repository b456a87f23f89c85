#!/bin/bash
#BSUB -J printf
#BSUB -Jd "psij-job 00000000-0000-4000-8000-000000000000"
#BSUB -o "/shared/psij work/lsf/%J.out"
#BSUB -e "/shared/psij work/lsf/%J.out"
#BSUB -W 10
#BSUB -n 1
#BSUB -env none

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
cd -- '/data/my run' || psij_end 1 'JobSpec.directory '"'"'/data/my run'"'"' cannot be entered on the node'
export GREETING='hello '"'"'world'"'"' $USER'
export EMPTY=''
export N=3
export PSIJ_NODEFILE="$psij_prefix.nodefile"
psij_write_nodefile >"$PSIJ_NODEFILE"
psij_exit_code=
{ env -- printf '%s
' 'a b' 'it'"'"'s' '"q"' '$HOME' '`date`' 'line
break' 'é ü'; psij_exit_code=$?; } <'/data/in put.txt' >'out $1.txt' 2>&1
if [ -z "$psij_exit_code" ]; then
    psij_end 1 'the job'"'"'s standard streams cannot be opened on the node (stdin_path='"'"'/data/in put.txt'"'"', stdout_path='"'"'out $1.txt'"'"', stderr_path='"'"'out $1.txt'"'"')'
fi
psij_end "$psij_exit_code" "$(grep -a '^PSIJ-LAUNCHER-ERROR: ' '/shared/psij work/lsf/00000000-0000-4000-8000-000000000000.launcher.log' 2>/dev/null)"

