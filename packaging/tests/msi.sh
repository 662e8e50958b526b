#!/usr/bin/env bash
# The MSI's tables, as msiexec will read them: wixl's output plus build.sh's
# msibuild fixes. Installing it under Wine is .ci/run's windows-msi step.
# Usage: packaging/tests/msi.sh MSI
set -euo pipefail
MSI="$1"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
table() { msiinfo export "$MSI" "$1" | tr -d '\r'; }
value() { table Property | awk -F'\t' -v n="$1" '$1 == n {print $2}'; }

[[ "$(value UpgradeCode)" == "{8E4C2F51-3B7A-4D9E-A1C6-5F2B7D0E9A34}" ]] || fail "UpgradeCode changed: $(value UpgradeCode)"
[[ "$(value ALLUSERS)" == 1 ]] || fail "not a per-machine install"
pass "fixed UpgradeCode, per machine"
for p in FOREWARN_URL FOREWARN_TOKEN FOREWARN_CA_FINGERPRINT; do
    [[ ";$(value SecureCustomProperties);" == *";$p;"* ]] || fail "$p not in SecureCustomProperties"
done
[[ ";$(value MsiHiddenProperties);" == *";FOREWARN_TOKEN;"* ]] || fail "token not hidden"
type="$(table CustomAction | awk -F'\t' '$1 == "EnrollAgent" {print $2}')"
((type & 8192)) || fail "EnrollAgent lacks HideTarget (type $type)"
((type & 2048)) || fail "EnrollAgent impersonates the user (type $type)"
pass "properties secure, token and the enrolling command line hidden from logs"
table Upgrade | grep -q WIX_UPGRADE_DETECTED || fail "no major upgrade row"
table ServiceInstall | awk -F'\t' '$2 == "ForewarnAgent" && $11 == "service" {found = 1} END {exit !found}' ||
    fail "service not registered as 'forewarn-agent.exe service'"
table ServiceControl | grep -q ForewarnAgent || fail "service not started/stopped by the MSI"
seq() { table InstallExecuteSequence | awk -F'\t' -v a="$1" '$1 == a {print $3}'; }
(($(seq InstallServices) < $(seq EnrollAgent) && $(seq EnrollAgent) < $(seq StartServices))) ||
    fail "EnrollAgent must run between InstallServices and StartServices"
(($(seq StopServices) < $(seq PurgeAgent) && $(seq PurgeAgent) < $(seq DeleteServices))) ||
    fail "PurgeAgent must run after the service stops and before files go"
pass "major upgrade, service registered, enrollment before the service starts, purge on uninstall"
printf '%d passed, 0 failed\n' "$PASSED"
