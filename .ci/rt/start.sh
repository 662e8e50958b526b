#!/usr/bin/env bash
# Start Request Tracker 5 (installed by .ci/rt/install.sh) on 127.0.0.1:PORT for a test.
# Usage (as root): .ci/rt/start.sh PORT STATE_DIR
# Runs bootstrap.pl first (fresh tokens into STATE_DIR/tokens.env), then rt-server as
# www-data in its own process group (pid in STATE_DIR/rt-server.pid, log in
# STATE_DIR/rt-server.log), and returns once REST 2 answers. Stop with .ci/rt/stop.sh.
set -euo pipefail
port=${1:?usage: start.sh PORT STATE_DIR}
state=${2:?usage: start.sh PORT STATE_DIR}
here=$(cd "$(dirname "$0")" && pwd)
rt_server=/usr/share/request-tracker5/libexec/rt-server
[[ -x $rt_server ]] || { echo "Request Tracker 5 is not installed: run .ci/rt/install.sh as root" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "start.sh must run as root (the server runs as www-data)" >&2; exit 2; }
mkdir -p "$state"
started_ns=$(date +%s%N)

# Bootstrap talks to the database directly, before the server starts, so no server
# worker holds stale rights or custom-field caches.
runuser -u www-data -- perl "$here/bootstrap.pl" > "$state/tokens.env"
bootstrapped_ns=$(date +%s%N)

setsid runuser -u www-data -- "$rt_server" --host 127.0.0.1 --port "$port" \
    --webpath /rt --max-workers 2 >"$state/rt-server.log" 2>&1 </dev/null &
pid=$!
echo "$pid" > "$state/rt-server.pid"

for _ in $(seq 1 240); do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "rt-server exited:" >&2; cat "$state/rt-server.log" >&2; exit 1
    fi
    # 401: up, and asking for credentials.
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/rt/REST/2.0/rt" || true)
    if [[ $code == 401 || $code == 200 ]]; then
        now_ns=$(date +%s%N)
        echo "RT ready on http://127.0.0.1:$port/rt: bootstrap $(( (bootstrapped_ns - started_ns) / 1000000 )) ms, server start $(( (now_ns - bootstrapped_ns) / 1000000 )) ms (pgid $pid)"
        exit 0
    fi
    sleep 0.2
done
echo "rt-server did not answer within 48 s:" >&2; cat "$state/rt-server.log" >&2
kill -TERM -- "-$pid" 2>/dev/null || true
exit 1
