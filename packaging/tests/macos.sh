#!/usr/bin/env bash
# The macOS package's pieces, tested where no Mac is available:
#   the LaunchDaemon plist and the PPPC profile parse (Python's plistlib, the
#   same XML plist format), with the keys launchd and the MDM need;
#   postinstall, run against a temporary root with a stand-in launchctl and
#   this machine's agent binary, enrolls from enroll.env against a real
#   collector on loopback, deletes the file and bootstraps the daemon; run
#   twice, it keeps one device.
# Usage: packaging/tests/macos.sh AGENT_BIN COLLECTOR_BIN
set -euo pipefail
AGENT_BIN="$(realpath "$1")"
export COLLECTOR_BIN
COLLECTOR_BIN="$(realpath "$2")"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
WORK="$(mktemp -d)"
trap 'stop_collector || true; rm -rf "$WORK"' EXIT
# shellcheck source=lib.sh
. "$HERE/lib.sh"

python3 - "$REPO_ROOT/packaging/macos/com.forewarn.agent.plist" "$REPO_ROOT/packaging/macos/forewarn-agent-pppc.mobileconfig" <<'PY'
import plistlib, sys
daemon = plistlib.load(open(sys.argv[1], "rb"))
assert daemon["Label"] == "com.forewarn.agent", daemon
assert daemon["ProgramArguments"] == ["/usr/local/bin/forewarn-agent", "run"], daemon
assert daemon["KeepAlive"] is True and daemon["RunAtLoad"] is True
assert daemon["ProcessType"] == "Background" and daemon["LowPriorityIO"] is True
profile = plistlib.load(open(sys.argv[2], "rb"))
assert profile["PayloadType"] == "Configuration" and profile["PayloadScope"] == "System"
tcc = profile["PayloadContent"][0]
assert tcc["PayloadType"] == "com.apple.TCC.configuration-profile-policy"
fda = tcc["Services"]["SystemPolicyAllFiles"][0]
assert fda["Identifier"] == "com.forewarn.agent" and fda["Allowed"] is True
PY
pass "LaunchDaemon plist and PPPC profile parse with the expected keys"

ROOT="$WORK/root"
SUPPORT="$ROOT/Library/Application Support/Forewarn"
mkdir -p "$ROOT/usr/local/bin" "$ROOT/Library/LaunchDaemons" "$SUPPORT" "$WORK/bin"
cp "$AGENT_BIN" "$ROOT/usr/local/bin/forewarn-agent"
cp "$REPO_ROOT/packaging/macos/com.forewarn.agent.plist" "$ROOT/Library/LaunchDaemons/"
# Stand-in launchctl: records its arguments (launchd exists only on macOS).
cat >"$WORK/bin/launchctl" <<SH
#!/bin/sh
echo "\$*" >>"$WORK/launchctl.log"
SH
chmod +x "$WORK/bin/launchctl"

start_collector
drop_env() {
    (umask 077 && printf 'FOREWARN_URL=%s\nFOREWARN_TOKEN=%s\nFOREWARN_CA_FINGERPRINT=%s\n' \
        "$COLLECTOR_URL" "$(new_token macs)" "$COLLECTOR_FP" >"$SUPPORT/enroll.env")
}
postinstall() {
    PATH="$WORK/bin:$PATH" FOREWARN_TEST_ROOT="$ROOT" \
        "$REPO_ROOT/packaging/macos/scripts/postinstall" "$WORK/forewarn.pkg" / "$ROOT"
}
drop_env
postinstall
[[ ! -e "$SUPPORT/enroll.env" ]] || fail "enroll.env not deleted: $(cat "$ROOT/Library/Logs/Forewarn/install.log")"
[[ -f "$SUPPORT/agent/enrollment.toml" ]] || fail "not enrolled: $(cat "$ROOT/Library/Logs/Forewarn/install.log")"
grep -q "bootstrap system $ROOT/Library/LaunchDaemons/com.forewarn.agent.plist" "$WORK/launchctl.log" ||
    fail "daemon not bootstrapped: $(cat "$WORK/launchctl.log")"
pass "postinstall enrolled, deleted enroll.env and bootstrapped the daemon"
drop_env
postinstall
grep -q "keeping this identity" "$ROOT/Library/Logs/Forewarn/install.log" || fail "second run re-enrolled"
[[ "$(device_lines | wc -l)" == 1 ]] || fail "two runs made $(device_lines | wc -l) devices"
pass "postinstall run twice: one device"
printf '%d passed, 0 failed\n' "$PASSED"
