#!/usr/bin/env bash
# Stops what sshd-up.sh started (only those sshd processes, by their pid files) and removes the
# network namespace psij-far with its routes and rule. The user psijssh, its Slurm association
# and the keys in DIR stay, so that the next sshd-up.sh is quick and host keys do not change.
D=${1:-/tmp/psij-sshd}
for p in "$D/sshd.pid" "$D/sshd-far.pid"; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; rm -f "$p"; done
ip link del psij-near 2>/dev/null || true
ip netns del psij-far 2>/dev/null || true
ip route del unreachable 10.231.0.0/30 2>/dev/null || true
while ip rule del lookup 231 2>/dev/null; do :; done
echo "[sshd-down] stopped" >&2
