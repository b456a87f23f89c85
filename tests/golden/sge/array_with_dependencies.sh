#!/bin/bash
#$ -S /bin/bash
#$ -N echo
#$ -o "/shared/psij work/sge/$JOB_ID.$TASK_ID.out"
#$ -j y
#$ -cwd
#$ -l h_rt=0:10:00
#$ -V
#$ -t 1-50
#$ -tc 5
#$ -hold_jid 7,8

# One slot, on this host. A PE or PE_HOSTFILE set here came from the submitting process (-V),
# not from Grid Engine, and would mislead mpirun.
unset PE PE_HOSTFILE
psij_write_nodefile() {
    printf '%s\n' "${HOSTNAME:-$(hostname)}"
}

# -hold_jid waits for the predecessors to end in any state, and this job runs only after they
# all COMPLETED: before anything of it runs, it reads their exit-code markers. One that ended
# otherwise (another exit code, a failure in its marker, or no marker at all: deleted, killed
# at its time limit) ends this job FAILED, naming it, even when no psij process is watching.
# A missing marker is looked for again for 30 s: a shared file system may show a file
# written on another node late.
psij_after_completed() {
    local own='/shared/psij work/sge'/"${JOB_ID}.${SGE_TASK_ID}" code said waited=0
    until code=$(head -n 1 -- "$2" 2>/dev/null) && [ -n "$code" ]; do
        if [ "$waited" -ge 30 ]; then code=; break; fi
        sleep 1
        waited=$((waited + 1))
    done
    # COMPLETED, as psij reads a marker: exit code 0 and nothing but psij's job id after it.
    if [ "$code" = 0 ] && ! grep -qvE '^(0|PSIJ-JOB: .*|)$' -- "$2"; then
        return 0
    elif [ -z "$code" ]; then
        said="left no exit-code marker ($2): deleted, killed, or never started"
    elif [ "$code" = 0 ]; then
        said="did not complete: its exit-code marker $2 reports a failure"
    else
        said="ended with exit code $code"
    fi
    (
        umask 077
        { printf '1\n'; printf 'dependency never satisfied: predecessor job %s %s\n' "$1" "$said"
          printf 'PSIJ-JOB: %s\n' 00000000-0000-4000-8000-000000000000-"$(( SGE_TASK_ID - 1 + 0 ))"; } >"$own.ec.tmp"
        mv -f -- "$own.ec.tmp" "$own.ec"
    )
    exit 1
}
psij_after_completed 7 '/shared/psij work/sge/7.ec'

# --- Written by psij. Everything below runs on the job's lead node. ---
# Markers for the executor, named after the scheduler's job id: <id>.started when the job
# starts, <id>.ec with its exit code (and any launcher error) when it ends, and psij's own job
# id (a scheduler may reuse its ids; a marker of another job is not evidence). Written
# user-only (umask in a subshell, so the job's own files keep the job's umask).
# An element of an array: its index (0 to count - 1) reaches the job and names its files.
export PSIJ_ARRAY_INDEX=$(( SGE_TASK_ID - 1 + 0 ))
psij_prefix='/shared/psij work/sge'/"${JOB_ID}.${SGE_TASK_ID}"
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
psij_end "$psij_exit_code" "$(grep -a '^PSIJ-LAUNCHER-ERROR: ' '/shared/psij work/sge/00000000-0000-4000-8000-000000000000-'"$PSIJ_ARRAY_INDEX".launcher.log 2>/dev/null)"

