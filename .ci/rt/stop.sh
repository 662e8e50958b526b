#!/usr/bin/env bash
# Stop a Request Tracker started by .ci/rt/start.sh. Usage: .ci/rt/stop.sh STATE_DIR
# rt-server was started with setsid, so its pid is the process group of the whole
# prefork tree: one signal to the group stops every worker.
set -u
pidfile=${1:?usage: stop.sh STATE_DIR}/rt-server.pid
[[ -s $pidfile ]] || exit 0
pid=$(cat "$pidfile")
kill -TERM -- "-$pid" 2>/dev/null
for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -KILL -- "-$pid" 2>/dev/null
rm -f "$pidfile"
exit 0
