#!/usr/bin/env bash
# slurm-torque-wrappers.sh -- put Slurm's Torque-compatible commands (qsub, qstat, qdel from the
# Debian package slurm-wlm-torque: perl scripts over the REAL Slurm cluster of slurm-up.sh) in a
# private directory, WITHOUT installing the package: it conflicts with gridengine-client, which
# the Grid Engine cluster of sge-up.sh needs (and whose qsub/qstat/qdel would clash on PATH).
#
#   * the perl modules the wrappers use (libslurm-perl, libslurmdb-perl, libswitch-perl) are
#     installed with apt-get: they conflict with nothing;
#   * the package itself is fetched with `apt-get download` and unpacked with `dpkg-deb -x` into
#     $PREFIX/root; its qsub, qstat, qdel, qhold, qrls are copied to $PREFIX/bin;
#   * the wrapper qsub runs "$(dirname qsub)/sbatch" (perl's FindBin), so $PREFIX/bin also gets
#     links to the real sbatch, salloc and srun.
#
# Nothing outside $PREFIX changes but the three perl packages. Idempotent: a second run only
# checks (the unpacked version is recorded in $PREFIX/VERSION). stdout: the bin directory, to be
# put first on PATH by the tests that use the wrappers (tests/test_torque_slurm_wrappers.py);
# progress goes to stderr.
#
# Knobs: PSIJ_SLURM_TORQUE_PREFIX (default /opt/psij-slurm-torque), APT_UPDATE=1 to run
# apt-get update first.
set -euo pipefail
PREFIX=${PSIJ_SLURM_TORQUE_PREFIX:-/opt/psij-slurm-torque}
APT_UPDATE=${APT_UPDATE:-0}
PACKAGE=slurm-wlm-torque
PERL_PACKAGES=(libslurm-perl libslurmdb-perl libswitch-perl)
COMMANDS=(qsub qstat qdel qhold qrls)
SLURM_COMMANDS=(sbatch salloc srun)

log() { echo "[slurm-torque-wrappers $(date +%T)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (apt-get, $PREFIX)"
command -v sbatch >/dev/null || die "no sbatch on PATH: run .ci/lrm/slurm-up.sh first"
export DEBIAN_FRONTEND=noninteractive

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# ---------------------------------------------------------------- perl modules
missing=()
for package in "${PERL_PACKAGES[@]}"; do installed "$package" || missing+=("$package"); done
if ((${#missing[@]})); then
    [ "$APT_UPDATE" = 1 ] && apt-get update -qq
    log "installing ${missing[*]}"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
        || die "apt-get install ${missing[*]} failed"
fi

# ---------------------------------------------------------------- the wrappers
wanted=$(apt-cache policy "$PACKAGE" | awk '/Candidate:/ {print $2}')
if [ -z "$wanted" ] || [ "$wanted" = "(none)" ]; then
    die "apt knows no candidate of $PACKAGE (run with APT_UPDATE=1)"
fi
if [ "$(cat "$PREFIX/VERSION" 2>/dev/null)" != "$wanted" ] || [ ! -x "$PREFIX/bin/qstat" ]; then
    log "unpacking $PACKAGE $wanted into $PREFIX"
    download=$(mktemp -d)
    trap 'rm -rf -- "$download"' EXIT
    # apt's sandbox user (_apt) downloads into the directory: let it write there.
    chown _apt "$download" 2>/dev/null || chmod 777 "$download"
    (cd "$download" && apt-get download -q "$PACKAGE=$wanted" >&2) \
        || die "apt-get download $PACKAGE failed"
    rm -rf -- "$PREFIX.new"
    mkdir -p "$PREFIX.new/bin"
    dpkg-deb -x "$download"/"$PACKAGE"_*.deb "$PREFIX.new/root"
    for name in "${COMMANDS[@]}"; do
        install -m 755 "$PREFIX.new/root/usr/bin/$name" "$PREFIX.new/bin/$name"
    done
    echo "$wanted" >"$PREFIX.new/VERSION"
    rm -rf -- "$PREFIX"
    mv -- "$PREFIX.new" "$PREFIX"
fi
for name in "${SLURM_COMMANDS[@]}"; do
    real=$(command -v "$name") || die "no $name on PATH"
    ln -sfn -- "$real" "$PREFIX/bin/$name"
done

# ---------------------------------------------------------------- check
perl -c "$PREFIX/bin/qstat" >/dev/null 2>&1 || die "perl cannot compile $PREFIX/bin/qstat: $(perl -c "$PREFIX/bin/qstat" 2>&1 | head -3)"
"$PREFIX/bin/qstat" >/dev/null 2>&1 || [ $? = 153 ] \
    || die "$PREFIX/bin/qstat does not work: $("$PREFIX/bin/qstat" 2>&1 | head -3)"
log "ready: $PREFIX/bin (qsub, qstat, qdel over Slurm $(sinfo --version 2>/dev/null | awk '{print $2}'))"
echo "$PREFIX/bin"
