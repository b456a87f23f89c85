#!/usr/bin/env bash
# slurmctld-restart.sh -- stop the Slurm controller started by slurm-up.sh, keep it down for a
# while, and start it again exactly as slurm-up.sh does (for fault tests: jobs keep running
# under slurmd while the controller is away).
#
#   slurmctld-restart.sh [DOWN_SECONDS]   stop (if running), wait DOWN_SECONDS (default 0),
#                                         start, wait until scontrol ping and squeue answer
#   slurmctld-restart.sh --ensure-up      only start the controller if it is not running
#
# Idempotent: a controller that is not running is just started. Whatever happens after the
# stop (error, SIGTERM, SIGINT), the controller is started again before the script exits.
# The cluster is shared: every run holds an exclusive flock on $LOCK, so restarts never
# overlap; tests that need a working controller may hold a shared lock on the same file.
# Prints "slurmctld stopped" and "slurmctld started" on stdout (a test waits for them);
# everything else goes to stderr.
set -euo pipefail

LOCK=${SLURMCTLD_RESTART_LOCK:-/tmp/psij-slurmctld-restart.lock}
LOCK_WAIT=${SLURMCTLD_RESTART_LOCK_WAIT:-120}
PIDDIR=/run/lrm-ci
PIDFILE=/run/slurmctld.pid   # SlurmctldPidFile in the slurm.conf slurm-up.sh writes

log() { echo "[slurmctld-restart $(date +%T.%3N)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"

mode=restart down=0
case ${1:-0} in
  --ensure-up) mode=ensure-up ;;
  ''|*[!0-9.]*) die "usage: $0 [DOWN_SECONDS] | --ensure-up" ;;
  *) down=$1 ;;
esac

# alive PIDFILE COMM -> 0 if the pid in PIDFILE is a live process named COMM (as slurm-up.sh)
alive() { local p; [ -s "$1" ] || return 1; p=$(cat "$1" 2>/dev/null) || return 1
          [ -n "$p" ] && [ -r "/proc/$p/comm" ] && [ "$(cat "/proc/$p/comm")" = "$2" ]; }
# wait_for SECONDS DESCRIPTION CMD... -> poll CMD every 0.1 s (as slurm-up.sh)
wait_for() { local n=$(( $1 * 10 )) what=$2; shift 2
             while ! "$@" >/dev/null 2>&1; do n=$((n-1)); [ $n -gt 0 ] || die "timed out waiting for $what"; sleep 0.1; done; }
node_ok() { case "$(sinfo -h -o %t | head -n 1)" in idle|mix|mixed|alloc|allocated|comp|completing|plnd|planned) return 0;; *) return 1;; esac; }

start() {
  if alive "$PIDFILE" slurmctld; then
    log "slurmctld is running (pid $(cat "$PIDFILE"))"
  else
    # the same command as slurm-up.sh
    setsid /usr/sbin/slurmctld </dev/null >/dev/null 2>&1
    wait_for 30 slurmctld scontrol ping
    mkdir -p "$PIDDIR"
    cp "$PIDFILE" "$PIDDIR/slurmctld.pid"
    log "started slurmctld (pid $(cat "$PIDFILE"))"
  fi
  wait_for 30 squeue squeue --noheader --format=%i
  wait_for 60 "the node to be up" node_ok
  echo "slurmctld started"
}

stop() {
  local p
  if ! alive "$PIDFILE" slurmctld; then
    log "slurmctld is not running; nothing to stop"
    return 0
  fi
  p=$(cat "$PIDFILE")
  kill -TERM "$p"
  for _ in $(seq 150); do [ -d "/proc/$p" ] || break; sleep 0.1; done
  if [ -d "/proc/$p" ]; then
    log "slurmctld (pid $p) ignored SIGTERM for 15 s; sending SIGKILL"
    kill -KILL "$p" 2>/dev/null || true
    for _ in $(seq 50); do [ -d "/proc/$p" ] || break; sleep 0.1; done
  fi
  log "stopped slurmctld (pid $p)"
  echo "slurmctld stopped"
}

exec 9>>"$LOCK"
flock -w "$LOCK_WAIT" 9 || die "another restart has held $LOCK for more than $LOCK_WAIT s"

if [ "$mode" = ensure-up ]; then
  start
  exit 0
fi
T0=$(date +%s.%N)
# From here on the controller comes back whatever happens.
trap 'trap - EXIT; start' EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
stop
sleep "$down"
trap - EXIT TERM INT
start
log "controller was away $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
