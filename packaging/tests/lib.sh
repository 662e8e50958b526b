# shellcheck shell=bash
# Shared by the package tests: a real forewarn-collector on loopback.
# Source it; needs COLLECTOR_BIN and WORK set. Sets COLLECTOR_* for the caller.
# shellcheck disable=SC2034

now_ms() { local t="${EPOCHREALTIME/[.,]/}"; echo $((t / 1000)); }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
pass() { printf 'ok: %s\n' "$*"; PASSED=$((${PASSED:-0} + 1)); }

# Starts the collector; sets COLLECTOR_PID, COLLECTOR_URL, COLLECTOR_FP, COLLECTOR_CONFIG.
start_collector() {
    COLLECTOR_CONFIG="$WORK/collector.toml"
    printf 'data_dir = "%s/data"\nagent_listen = "127.0.0.1:0"\nweb_listen = "127.0.0.1:0"\nreport_interval_secs = 2\n' \
        "$WORK" >"$COLLECTOR_CONFIG"
    "${COLLECTOR_BIN:?}" --config "$COLLECTOR_CONFIG" serve >"$WORK/collector.out" 2>"$WORK/collector.err" &
    COLLECTOR_PID=$!
    local line="" _
    for _ in $(seq 1 300); do
        line="$(grep -m1 'agents=' "$WORK/collector.out" || true)"
        [[ -n "$line" ]] && break
        sleep 0.1
    done
    [[ -n "$line" ]] || fail "collector did not start: $(cat "$WORK/collector.err")"
    local agents
    agents="$(grep -o 'agents=[^ ]*' <<<"$line" | cut -d= -f2)"
    COLLECTOR_FP="$(grep -o 'ca_sha256=[^ ]*' <<<"$line" | cut -d= -f2)"
    COLLECTOR_URL="https://$agents"
}

stop_collector() {
    [[ -n "${COLLECTOR_PID:-}" ]] && kill "$COLLECTOR_PID" 2>/dev/null && wait "$COLLECTOR_PID" 2>/dev/null
    COLLECTOR_PID=""
}

collector() { "$COLLECTOR_BIN" --config "$COLLECTOR_CONFIG" "$@"; }

new_token() { collector token create --group "$1" --expires 1h | sed -n 1p; }

# Device lines of `device list` (without the header).
# The table's rows only: a blank line ends the table (never-reported devices
# are listed again below it, with what to check).
device_lines() { collector device list | awk 'NR == 1 { next } /^$/ { exit } { print }'; }

# Waits up to $2 seconds until device $1 has reported (LAST SEEN is not "never").
wait_reported() {
    local id="$1" deadline=$((SECONDS + $2))
    while ((SECONDS < deadline)); do
        if device_lines | grep "^$id " | grep -qv ' never '; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}
