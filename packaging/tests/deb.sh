#!/usr/bin/env bash
# The agent's deb, installed in a Debian chroot with its maintainer scripts,
# against a real collector on loopback (the chroot shares the host's network):
#   enroll.env → enrolled, the file deleted, the device appears and reports;
#   installing again (upgrade path) → the same device id, still one device;
#   remove → identity kept; purge → identity, spool and config deleted.
# Also: shellcheck on every maintainer script, `systemd-analyze verify` on the
# units, the rpm inspected and installed with `rpm --root`.
#
# Usage: packaging/tests/deb.sh DIST_DIR COLLECTOR_BIN [CHROOT]
#   (forewarn-agent is expected beside COLLECTOR_BIN, for the unit check)
#   CHROOT defaults to /var/tmp/forewarn-chroot, made with debootstrap when missing.
set -euo pipefail
DIST="$(realpath "$1")"
export COLLECTOR_BIN
COLLECTOR_BIN="$(realpath "$2")"
BIN_DIR="$(dirname "$COLLECTOR_BIN")"
CHROOT="${3:-/var/tmp/forewarn-chroot}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
WORK="$(mktemp -d)"
AGENT_PID=""
PROC_MOUNTED=""
cleanup() {
    if [[ -n "$AGENT_PID" ]]; then
        kill "$AGENT_PID" 2>/dev/null || true
        wait "$AGENT_PID" 2>/dev/null || true
    fi
    # A process still ending inside the chroot keeps /proc busy: detach it then.
    if [[ -n "$PROC_MOUNTED" ]]; then
        umount "$PROC_MOUNTED" 2>/dev/null || umount -l "$PROC_MOUNTED" 2>/dev/null || true
    fi
    stop_collector || true
    rm -rf "$WORK"
}
trap cleanup EXIT
# shellcheck source=lib.sh
. "$HERE/lib.sh"

DEB="$(find "$DIST" -maxdepth 1 -name "forewarn-agent_*.deb" | head -n1)"
RPM="$(find "$DIST" -maxdepth 1 -name "forewarn-agent-*.rpm" | head -n1)"

# --- static checks --------------------------------------------------------------
shellcheck -s sh "$REPO_ROOT"/packaging/linux/scripts/* "$REPO_ROOT"/packaging/macos/scripts/*
shellcheck -x -P "$HERE" "$REPO_ROOT"/packaging/build.sh "$REPO_ROOT"/packaging/macos/build-pkg.sh "$HERE"/*.sh
pass "shellcheck: every maintainer script and build script"

# systemd-analyze wants the ExecStart programs to exist: point them at the binaries under test.
VDIR="$WORK/units"
mkdir -p "$VDIR"
for unit in forewarn-agent forewarn-collector; do
    sed "s|/usr/bin/$unit |$BIN_DIR/$unit |" "$REPO_ROOT/packaging/systemd/$unit.service" >"$VDIR/$unit.service"
done
# Other units on the machine may draw warnings of their own: only ours count.
out="$(systemd-analyze verify "$VDIR/forewarn-agent.service" "$VDIR/forewarn-collector.service" 2>&1 || true)"
ours="$(grep -E 'forewarn-(agent|collector)' <<<"$out" || true)"
[[ -z "$ours" ]] || fail "systemd-analyze verify: $ours"
pass "systemd-analyze verify: both units clean"

# --- deb in a chroot -------------------------------------------------------------
if [[ ! -x "$CHROOT/usr/bin/dpkg" ]]; then
    debootstrap --variant=minbase bookworm "$CHROOT" >"$WORK/debootstrap.log" 2>&1 ||
        fail "debootstrap: $(tail -n5 "$WORK/debootstrap.log")"
fi
in_chroot() { chroot "$CHROOT" "$@"; }
# The agent reads /proc (its own path, mounts), as on a booted system.
if ! mountpoint -q "$CHROOT/proc"; then
    mount -t proc proc "$CHROOT/proc"
    PROC_MOUNTED="$CHROOT/proc"
fi
# A previous run's package must not be there.
in_chroot dpkg --purge forewarn-agent >/dev/null 2>&1 || true
rm -rf "$CHROOT/var/lib/forewarn-agent" "$CHROOT/etc/forewarn"

start_collector
TOKEN="$(new_token linux)"
cp "$DEB" "$CHROOT/tmp/forewarn-agent.deb"
mkdir -p "$CHROOT/etc/forewarn"
(umask 077 && printf 'FOREWARN_URL=%s\nFOREWARN_TOKEN="%s"\nFOREWARN_CA_FINGERPRINT=%s\n' \
    "$COLLECTOR_URL" "$TOKEN" "$COLLECTOR_FP" >"$CHROOT/etc/forewarn/enroll.env")

t0=$(now_ms)
in_chroot dpkg -i /tmp/forewarn-agent.deb >"$WORK/dpkg1.log" 2>&1 || fail "dpkg -i: $(cat "$WORK/dpkg1.log")"
[[ ! -e "$CHROOT/etc/forewarn/enroll.env" ]] || fail "enroll.env was not deleted: $(cat "$WORK/dpkg1.log")"
pass "dpkg -i with enroll.env enrolled and deleted the file"
DEVICE_ID="$(sed -n 's/^device_id = "\(.*\)"$/\1/p' "$CHROOT/var/lib/forewarn-agent/enrollment.toml")"
[[ -n "$DEVICE_ID" ]] || fail "no device id after install"
[[ "$(stat -c %a "$CHROOT/var/lib/forewarn-agent")" == 700 ]] || fail "state dir not 0700"
[[ "$(stat -c %a "$CHROOT/var/lib/forewarn-agent/device.pem")" == 600 ]] || fail "key not 0600"
[[ -L "$CHROOT/etc/systemd/system/multi-user.target.wants/forewarn-agent.service" ]] ||
    echo "note: systemctl is not in the minbase chroot, so the unit was not enabled there"
# No systemd as PID 1 here: start the service's command as the unit would.
# chroot itself in the background (not the in_chroot function, whose subshell
# would be the PID killed, leaving the agent running): chroot execs the agent.
chroot "$CHROOT" /usr/bin/forewarn-agent run >"$WORK/agent.log" 2>&1 &
AGENT_PID=$!
wait_reported "$DEVICE_ID" 60 || fail "device $DEVICE_ID never reported: $(tail -n5 "$WORK/agent.log")"
t1=$(now_ms)
pass "device $DEVICE_ID reported; dpkg -i to first report: $((t1 - t0))ms"
echo "MEASURE deb_install_to_first_report_ms=$((t1 - t0))"
in_chroot /usr/bin/forewarn-agent status >"$WORK/status.txt" || fail "status exit $?: $(cat "$WORK/status.txt")"
grep -q "$DEVICE_ID" "$WORK/status.txt" || fail "status does not name the device"
pass "status exits 0 and names the device"
kill "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null || true; AGENT_PID=""

# Upgrade path: the same package again, with a fresh enroll.env (as a re-run deployment would drop).
TOKEN2="$(new_token linux)"
(umask 077 && printf 'FOREWARN_URL=%s\nFOREWARN_TOKEN=%s\nFOREWARN_CA_FINGERPRINT=%s\n' \
    "$COLLECTOR_URL" "$TOKEN2" "$COLLECTOR_FP" >"$CHROOT/etc/forewarn/enroll.env")
in_chroot dpkg -i /tmp/forewarn-agent.deb >"$WORK/dpkg2.log" 2>&1 || fail "second dpkg -i: $(cat "$WORK/dpkg2.log")"
grep -q "keeping this identity" "$WORK/dpkg2.log" || fail "second install did not keep the identity: $(cat "$WORK/dpkg2.log")"
AFTER="$(sed -n 's/^device_id = "\(.*\)"$/\1/p' "$CHROOT/var/lib/forewarn-agent/enrollment.toml")"
[[ "$AFTER" == "$DEVICE_ID" ]] || fail "device id changed on upgrade: $DEVICE_ID -> $AFTER"
[[ "$(device_lines | wc -l)" == 1 ]] || fail "more than one device: $(device_lines)"
pass "upgrade keeps device $DEVICE_ID; the collector has one device"

in_chroot dpkg -r forewarn-agent >"$WORK/dpkg3.log" 2>&1 || fail "dpkg -r: $(cat "$WORK/dpkg3.log")"
[[ -f "$CHROOT/var/lib/forewarn-agent/enrollment.toml" ]] || fail "remove deleted the identity"
pass "dpkg -r keeps the identity"
in_chroot dpkg --purge forewarn-agent >"$WORK/dpkg4.log" 2>&1 || fail "dpkg --purge: $(cat "$WORK/dpkg4.log")"
[[ ! -e "$CHROOT/var/lib/forewarn-agent" ]] || fail "purge left /var/lib/forewarn-agent"
[[ ! -e "$CHROOT/etc/forewarn/agent.toml" ]] || fail "purge left agent.toml"
pass "dpkg --purge deletes identity, spool and config"

# --- rpm ---------------------------------------------------------------------------
rpm -qlp "$RPM" | grep -qx /usr/bin/forewarn-agent || fail "rpm lacks /usr/bin/forewarn-agent"
rpm -qp --scripts "$RPM" | grep -q "enroll.env" || fail "rpm lacks the enrolling postinstall"
RPMROOT="$WORK/rpmroot"
mkdir -p "$RPMROOT"
# --noscripts: the root has no shell to run them; the deb test above runs the same scripts.
rpm --root "$RPMROOT" --dbpath /var/lib/rpm -i --nodeps --noscripts "$RPM"
[[ -x "$RPMROOT/usr/bin/forewarn-agent" && -f "$RPMROOT/usr/lib/systemd/system/forewarn-agent.service" ]] ||
    fail "rpm --root did not install the files"
pass "rpm inspected and installed with --root"

printf '%d passed, 0 failed\n' "$PASSED"
