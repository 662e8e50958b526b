#!/usr/bin/env bash
# Reports/s with one collector, then with two collectors, on one PostgreSQL
# schema (created for the run, dropped after), in one run. The two share CA
# and keys as docs/scaling.md says; with two, half the devices report to
# each (two forewarn-loadgen processes at once) and the sum is printed.
# Debug binaries work too (COLLECTOR=, LOADGEN=), for a ratio only.
#
#   cargo build --release -p forewarn-collector -p forewarn-loadgen
#   loadgen/run-two-collectors.sh                  # 200 devices, 30 s per run
#   DEVICES=1000 DURATION=60s loadgen/run-two-collectors.sh
#
# Environment: DEVICES (default 200), DURATION (default 30s), CHANGE (default
# 0.1), POSTGRES (server URL; default FOREWARN_TEST_POSTGRES_URL or
# postgres://postgres@127.0.0.1:5432/test), COLLECTOR and LOADGEN (binaries;
# default target/release/), KEEP=1 keeps the work directory and the schema.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
collector=${COLLECTOR:-$root/target/release/forewarn-collector}
loadgen=${LOADGEN:-$root/target/release/forewarn-loadgen}
devices=${DEVICES:-200}
duration=${DURATION:-30s}
change=${CHANGE:-0.1}
server=${POSTGRES:-${FOREWARN_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}}

for binary in "$collector" "$loadgen"; do
  [ -x "$binary" ] || { echo "missing $binary; run: cargo build --release -p forewarn-collector -p forewarn-loadgen" >&2; exit 1; }
done
command -v psql >/dev/null || { echo "psql is needed to create the schema" >&2; exit 1; }

work=$(mktemp -d -t forewarn-two.XXXXXX)
schema=forewarn_two_$$
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  if [ "${KEEP:-0}" = 1 ]; then
    echo "kept $work and schema $schema" >&2
  else
    rm -rf "$work"
    psql -q "$server" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

psql -q "$server" -c "CREATE SCHEMA $schema" >/dev/null
case "$server" in *\?*) sep='&' ;; *) sep='?' ;; esac
store="$server${sep}options=-csearch_path%3D$schema"

# start NAME [TLS-SECTION]: a collector on free ports; sets port_NAME and pid_NAME.
start() {
  local name=$1 tls=${2:-} dir=$work/$1 port
  port=$(free_port)
  mkdir -p "$dir"
  cat > "$dir/collector.toml" <<TOML
data_dir = "data"
agent_listen = "127.0.0.1:$port"
web_listen = "127.0.0.1:$(free_port)"
server_names = ["127.0.0.1"]
store = "$store"
$tls
TOML
  "$collector" --config "$dir/collector.toml" serve > "$dir/collector.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 150); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    kill -0 "$pid" 2>/dev/null || { echo "collector $name exited; see $dir/collector.log:" >&2; cat "$dir/collector.log" >&2; exit 1; }
    sleep 0.2
  done
  printf -v "port_$name" '%s' "$port"
  printf -v "pid_$name" '%s' "$pid"
}

start a
pki=$work/a/data/pki
start b "[tls]
ca_cert = \"$pki/ca.pem\"
ca_key = \"$pki/ca-key.pem\"
server_cert = \"$pki/server.pem\"
server_key = \"$pki/server-key.pem\""
token=$("$collector" --config "$work/a/collector.toml" token create --group load --expires 1d --uses $((devices * 2)) | sed -n 1p)

# load NAME COUNT CACHE: forewarn-loadgen against collector NAME.
load() {
  local port_var=port_$1 pid_var=pid_$1
  "$loadgen" --url "https://127.0.0.1:${!port_var}" --ca-cert "$pki/ca.pem" --token "$token" \
    --cache "$work/$3" --devices "$2" --duration "$duration" --change-fraction "$change" \
    --collector-pid "${!pid_var}"
}

rate() { sed -n 's/^reports\/s[^0-9]*\([0-9.,]*\).*/\1/p' "$1" | tr -d , | head -1; }

echo "== one collector (pid $pid_a), $devices devices, $duration, PostgreSQL schema $schema, $(nproc) cores"
load a "$devices" one | tee "$work/one.txt"
# The same devices again, half on each collector. forewarn-loadgen numbers
# devices from 0 in its cache, so the second half is renumbered into a cache
# of its own that names collector b: its identities stay those enrolled above
# (enrolling them again would replace their certificates).
half=$((devices / 2))
for i in $(seq 0 $((half - 1))); do
  to=$(printf '%s/two-b/load-%05d' "$work" "$i")
  mkdir -p "$work/two-b"
  cp -r "$(printf '%s/one/load-%05d' "$work" $((i + half)))" "$to"
  sed -i "s#127.0.0.1:$port_a#127.0.0.1:$port_b#" "$to/enrollment.toml"
done
echo "== two collectors (pids $pid_a, $pid_b), $half devices each, $duration"
load a "$half" one > "$work/two-a.txt" &
first=$!
load b "$half" two-b > "$work/two-b.txt"
wait "$first"
cat "$work/two-a.txt" "$work/two-b.txt"
one=$(rate "$work/one.txt")
two_a=$(rate "$work/two-a.txt")
two_b=$(rate "$work/two-b.txt")
python3 - "$one" "$two_a" "$two_b" <<'PY'
import sys
one, a, b = (float(x) for x in sys.argv[1:])
print(f"reports/s: one collector {one:.0f}; two collectors {a:.0f} + {b:.0f} = {a + b:.0f} ({(a + b) / one:.2f}x)")
PY
