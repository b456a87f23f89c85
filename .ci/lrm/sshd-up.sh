#!/usr/bin/env bash
# A real OpenSSH server for the tests, on this machine (Debian 12, as root; our copy of
# shared/lrm/sshd-up.sh):
#   sshd-up.sh [DIR]          sshd on 127.0.0.1:${SSHD_PORT:-2222}, key auth only. DIR (default
#                             /tmp/psij-sshd) holds its host key and, in DIR/client (root's,
#                             mode 700), the client key, known_hosts and a client config naming
#                             the host `psij-test`, logging in as the dedicated test user
#                             `psijssh` (use: ssh -F DIR/client/config psij-test).
#   SSHD_NETNS=1 sshd-up.sh   also a second "host" in the network namespace `psij-far`
#                             (10.231.0.2, its own sshd on port 22), named `psij-far` in the
#                             client config and reached through `psij-test` as ProxyJump. Only
#                             psijssh's processes have a route to it (policy routing by uid),
#                             so a connection that skips the jump fails at once.
# psijssh (home /home/psijssh, /bin/bash, no password) may submit to the local Slurm and Grid
# Engine when they are up. Idempotent; ~0.3 s when already up. Prints DIR/client on stdout;
# progress on stderr. sshd-down.sh stops what this started (the user stays).
set -euo pipefail
D=${1:-/tmp/psij-sshd}; PORT=${SSHD_PORT:-2222}
TEST_USER=psijssh; FAR_TABLE=231
log() { echo "[sshd-up $(date +%T)] $*" >&2; }
mkdir -p "$D" && chmod 700 "$D"
if [ ! -x /usr/sbin/sshd ]; then
  log "installing openssh-server openssh-client"
  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openssh-server openssh-client) >&2
fi

# --- the test user ---------------------------------------------------------------------------
if ! id "$TEST_USER" >/dev/null 2>&1; then
  useradd --create-home --home-dir "/home/$TEST_USER" --shell /bin/bash "$TEST_USER"
  log "created user $TEST_USER"
fi
# useradd leaves the password field "!": sshd without PAM refuses a *locked* account even
# for key logins. "*" is no valid password but not locked, so only keys get in.
[ "$(getent shadow "$TEST_USER" | cut -d: -f2)" = '*' ] || usermod -p '*' "$TEST_USER"

[ -f "$D/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$D/host_ed25519" -C psij-test-host
[ -f "$D/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$D/id_ed25519" -C psij-test-client
# root's copy (DIR/authorized_keys: root may still log in with the same key) and psijssh's own.
cp "$D/id_ed25519.pub" "$D/authorized_keys"; chmod 600 "$D/authorized_keys"
home=$(getent passwd "$TEST_USER" | cut -d: -f6)
install -d -m 700 -o "$TEST_USER" -g "$TEST_USER" "$home/.ssh"
# Added, never replaced: instances with other state directories (and keys) share the user.
keys=$home/.ssh/authorized_keys
if ! grep -qxF "$(cat "$D/id_ed25519.pub")" "$keys" 2>/dev/null; then
  cat "$D/id_ed25519.pub" >> "$keys"
fi
chown "$TEST_USER:$TEST_USER" "$keys"; chmod 600 "$keys"

write_config() {  # $1 listen address, $2 port, $3 pid file
  cat <<CFG
Port $2
ListenAddress $1
HostKey $D/host_ed25519
AuthorizedKeysFile .ssh/authorized_keys $D/authorized_keys
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PidFile $3
MaxSessions 100
MaxStartups 100:30:200
AllowTcpForwarding yes
CFG
}
mkdir -p /run/sshd
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
# Rewritten each time, and sshd restarted when it changed (as slurm-up.sh does with slurm.conf).
start_sshd() {  # $1 config file, $2 pid file, $3 log file, $4 where; then the command prefix
  local config=$1 pid=$2 logfile=$3 where=$4; shift 4
  if alive "$pid" && cmp -s "$config.new" "$config"; then rm -f "$config.new"; return; fi
  mv "$config.new" "$config"
  if alive "$pid"; then kill "$(cat "$pid")"; sleep 0.2; fi
  "$@" /usr/sbin/sshd -f "$config" -E "$logfile"
  for _ in $(seq 1 20); do alive "$pid" && break; sleep 0.1; done
  alive "$pid" || { log "ERROR: sshd $where did not start (port taken?): $(tail -2 "$logfile")"; exit 1; }
  log "sshd on $where"
}
write_config 127.0.0.1 "$PORT" "$D/sshd.pid" > "$D/sshd_config.new"
start_sshd "$D/sshd_config" "$D/sshd.pid" "$D/sshd.log" "127.0.0.1:$PORT"

C=$D/client; mkdir -p "$C"; chmod 700 "$C"
cp "$D/id_ed25519" "$C/id_ed25519"; chmod 600 "$C/id_ed25519"
key=$(cut -d' ' -f1-2 "$D/host_ed25519.pub")
echo "[127.0.0.1]:$PORT $key" > "$C/known_hosts"
host_block() {  # $1 name, $2 address, $3 port, then extra lines
  local name=$1 address=$2 port=$3; shift 3
  printf 'Host %s\n  HostName %s\n  Port %s\n  User %s\n' "$name" "$address" "$port" "$TEST_USER"
  for line in "$@"; do printf '  %s\n' "$line"; done
  printf '  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n' "$C/id_ed25519" "$C/known_hosts"
  printf '  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  BatchMode yes\n'
}
host_block psij-test 127.0.0.1 "$PORT" > "$C/config"

if [ "${SSHD_NETNS:-0}" = 1 ]; then
  if ! ip netns list | grep -qw psij-far; then
    ip netns add psij-far
    ip link add psij-near type veth peer name psij-farif
    ip link set psij-farif netns psij-far
    # No route to the far host in the main table (noprefixroute, and an "unreachable" route
    # so that nothing leaves by the default gateway): only psijssh's processes, that is the
    # psij-test sshd forwarding a ProxyJump, look up table 231 where the route is.
    ip addr add 10.231.0.1/30 dev psij-near noprefixroute; ip link set psij-near up
    ip route add unreachable 10.231.0.0/30
    ip route add 10.231.0.0/30 dev psij-near src 10.231.0.1 table "$FAR_TABLE"
    ip netns exec psij-far ip addr add 10.231.0.2/30 dev psij-farif
    ip netns exec psij-far ip link set psij-farif up
    ip netns exec psij-far ip link set lo up
    log "network namespace psij-far at 10.231.0.2"
  fi
  uid=$(id -u "$TEST_USER")
  if ! ip rule show | grep -q "uidrange $uid-$uid lookup $FAR_TABLE"; then
    ip rule add uidrange "$uid-$uid" lookup "$FAR_TABLE" priority 1000
  fi
  write_config 10.231.0.2 22 "$D/sshd-far.pid" > "$D/sshd_far_config.new"
  start_sshd "$D/sshd_far_config" "$D/sshd-far.pid" "$D/sshd-far.log" "10.231.0.2:22 (psij-far)" \
    ip netns exec psij-far
  echo "10.231.0.2 $key" >> "$C/known_hosts"
  host_block psij-far 10.231.0.2 22 'ProxyJump psij-test' >> "$C/config"
fi
chmod 600 "$C/config" "$C/known_hosts"

# --- psijssh may use the local schedulers ----------------------------------------------------
# Slurm: AccountingStorageEnforce is none here, so a user without an association may submit;
# an association is still added (idempotent), so that sacct/sacctmgr know the user and a
# stricter slurm.conf does not refuse it.
if command -v sacctmgr >/dev/null && timeout 10 scontrol ping >/dev/null 2>&1; then
  cluster=$(scontrol show config | awk '$1 == "ClusterName" {print $3}')
  if [ -z "$(timeout 10 sacctmgr -n -P show assoc where cluster="$cluster" user="$TEST_USER" format=user 2>/dev/null)" ]; then
    account=$(timeout 10 sacctmgr -n -P show assoc where cluster="$cluster" user=root format=account | head -1)
    timeout 20 sacctmgr -i add user "$TEST_USER" account="${account:-root}" cluster="$cluster" >/dev/null
    log "Slurm association $TEST_USER (account ${account:-root}, cluster $cluster)"
  fi
fi
# Grid Engine: no user lists on all.q and min_uid 0 (sge-up.sh), so nothing to add; say so
# when that changes.
if command -v qconf >/dev/null && timeout 10 qstat -g c >/dev/null 2>&1; then
  if ! qconf -sq all.q | awk '$1 ~ /^x?user_lists$/ && $2 != "NONE" {exit 1}'; then
    log "WARNING: Grid Engine all.q has user lists: $TEST_USER may be refused"
  fi
fi

ssh_works() {  # $1 host: one login when up, retried for 5 s just after a start
  for _ in $(seq 1 20); do ssh -F "$C/config" "$1" true 2>/dev/null && return; sleep 0.25; done
  ssh -F "$C/config" "$1" true
}
ssh_works psij-test || { log "ERROR: ssh psij-test fails; see $D/sshd.log"; exit 1; }
if [ "${SSHD_NETNS:-0}" = 1 ]; then
  ssh_works psij-far || { log "ERROR: ssh psij-far fails; see $D/sshd-far.log"; exit 1; }
fi
log "ready: ssh -F $C/config psij-test"
echo "$C"
