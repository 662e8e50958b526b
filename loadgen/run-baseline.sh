#!/usr/bin/env bash
# Baseline ingest measurement: for each device count, a release collector with
# a fresh data directory on loopback, forewarn-loadgen against it, the table.
#
#   cargo build --release -p forewarn-collector -p forewarn-loadgen
#   loadgen/run-baseline.sh                 # 100 and 1000 devices, 60 s each
#   DURATION=30s RATE=500 loadgen/run-baseline.sh 100 1000 5000
#   STORE=postgres loadgen/run-baseline.sh 1000   # a fresh database per run
#
# Environment: DURATION (default 60s), RATE (total reports/s; default as fast
# as possible), CHANGE (share of changing reports, default 0.1), COLLECTOR and
# LOADGEN (binaries; default target/release/), KEEP=1 keeps the work directory,
# STORE (sqlite, the default, or postgres: a fresh database on PGHOST, default
# 127.0.0.1:5432 as user postgres, dropped afterwards; its growth is printed).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
collector=${COLLECTOR:-$root/target/release/forewarn-collector}
loadgen=${LOADGEN:-$root/target/release/forewarn-loadgen}
duration=${DURATION:-60s}
change=${CHANGE:-0.1}
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(100 1000)

for binary in "$collector" "$loadgen"; do
  [ -x "$binary" ] || { echo "missing $binary; run: cargo build --release -p forewarn-collector -p forewarn-loadgen" >&2; exit 1; }
done

store=${STORE:-sqlite}
pg_server=${PGHOST:-127.0.0.1}:${PGPORT:-5432}
pg_database=
psql_admin() { psql -X -q -t -A -h "${pg_server%:*}" -p "${pg_server#*:}" -U postgres -d postgres -c "$1"; }
pg_size() { psql_admin "SELECT pg_database_size('$pg_database')"; }

work=$(mktemp -d -t forewarn-baseline.XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ -n "$pg_database" ]; then psql_admin "DROP DATABASE IF EXISTS $pg_database" || true; fi
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

for devices in "${counts[@]}"; do
  dir=$work/collector-$devices
  port=$(free_port)
  mkdir -p "$dir"
  cat > "$dir/collector.toml" <<TOML
data_dir = "data"
agent_listen = "127.0.0.1:$port"
server_names = ["127.0.0.1"]
TOML
  db_args=(--db "$dir/data/forewarn.sqlite3")
  if [ "$store" = postgres ]; then
    pg_database=forewarn_loadgen_$$_$devices
    psql_admin "CREATE DATABASE $pg_database"
    echo "store = \"postgres://postgres@$pg_server/$pg_database\"" >> "$dir/collector.toml"
    db_args=()
  fi
  "$collector" --config "$dir/collector.toml" serve > "$dir/collector.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    if [ -s "$dir/data/pki/ca.pem" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    kill -0 "$pid" 2>/dev/null || { echo "the collector exited; see $dir/collector.log:" >&2; cat "$dir/collector.log" >&2; exit 1; }
    sleep 0.2
  done
  token=$("$collector" --config "$dir/collector.toml" token create --group load --expires 1d --uses "$devices" | sed -n 1p)
  rate_args=()
  [ -z "${RATE:-}" ] || rate_args=(--rate "$RATE")
  [ "$store" = postgres ] && size_before=$(pg_size)
  echo "== $store, $(basename "$(dirname "$collector")") collector (pid $pid), $devices devices, ${RATE:-max} reports/s, $duration, $(nproc) cores"
  "$loadgen" --url "https://127.0.0.1:$port" --ca-cert "$dir/data/pki/ca.pem" --token "$token" \
    --cache "$dir/devices" --devices "$devices" --duration "$duration" --change-fraction "$change" \
    --collector-pid "$pid" "${db_args[@]}" "${rate_args[@]}"
  echo "threads in collector: $(awk '/^Threads:/ {print $2}' "/proc/$pid/status")"
  if [ "$store" = postgres ]; then
    echo "PostgreSQL database grew $(( $(pg_size) - size_before )) bytes over the run, enrollment included"
  fi
  kill "$pid"; wait "$pid" 2>/dev/null || true
  pid=
  if [ -n "$pg_database" ]; then psql_admin "DROP DATABASE $pg_database"; pg_database=; fi
done
