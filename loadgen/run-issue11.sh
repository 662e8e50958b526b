#!/usr/bin/env bash
# Issue 11's closing numbers in one run: the collector as it was before issue
# 11 (the baseline, built from BASELINE_COMMIT) and the current one, side by
# side on this machine, each against a fresh database, driven by the same
# forewarn-loadgen; ratios are current / baseline from this run only.
#
#   cargo build --release -p forewarn-collector -p forewarn-loadgen
#   loadgen/run-issue11.sh                      # every part, about 40 min on 2 cores
#   PARTS=ingest DURATION=30s loadgen/run-issue11.sh
#
# Parts (PARTS, space-separated; default all four):
#   ingest  reports/s at SMALL (1,000) and LARGE (5,000) devices as fast as
#           possible, and Report latency at a fixed RATE (1,000 reports/s) on
#           SMALL devices: baseline on SQLite, current on SQLite and on
#           PostgreSQL (the baseline had no PostgreSQL store). Collector CPU
#           per report, RSS, database growth per report, and for SQLite what
#           the collector wrote to storage per report (/proc/PID/io).
#   held    HELD (20,000) agents connected and idle: collector RSS and CPU per
#           minute while they hold their connections (two load generators,
#           each holding half), from when the collector has settled after
#           their first reports. HELD is lowered to fit the open file limit.
#   two     loadgen/run-two-collectors.sh: one vs two current collectors on
#           one PostgreSQL.
#   store   the ignored store measurements (debug build): bytes per device per
#           month at a 5-minute interval with retention, ingest on 14 and 28
#           days of history vs fresh, one sweep at 2,000 devices on SQLite and
#           PostgreSQL, sweep and CLI on 14 days of history.
#
# Environment: DURATION (each measured window, default 60s), SMALL, LARGE,
# RATE, HELD, HELD_WINDOW (seconds of the idle measurement, default 60),
# CHANGE (share of changing reports, default 0.1), TWO_DEVICES (default 1000),
# BASELINE_COMMIT (default 796f30d, main just before issue 11's first merge),
# BASELINE (its release collector; default target/baseline/release/
# forewarn-collector, built from a temporary worktree when missing),
# COLLECTOR and LOADGEN (default target/release/), PGHOST/PGPORT (default
# 127.0.0.1:5432, user postgres, trust), KEEP=1 keeps the work directory.
# Exits non-zero when a collector or load generator fails or a number is missing.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
here=$root/loadgen
collector=${COLLECTOR:-$root/target/release/forewarn-collector}
loadgen=${LOADGEN:-$root/target/release/forewarn-loadgen}
baseline_commit=${BASELINE_COMMIT:-796f30d}
baseline=${BASELINE:-$root/target/baseline/release/forewarn-collector}
duration=${DURATION:-60s}
small=${SMALL:-1000}
large=${LARGE:-5000}
rate=${RATE:-1000}
held=${HELD:-20000}
held_window=${HELD_WINDOW:-60}
change=${CHANGE:-0.1}
parts=${PARTS:-ingest held two store}
pg_host=${PGHOST:-127.0.0.1}
pg_port=${PGPORT:-5432}

echo "reproduce: (cd $root && PARTS=\"$parts\" DURATION=$duration SMALL=$small LARGE=$large RATE=$rate HELD=$held loadgen/run-issue11.sh)"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg) at start, $(date -u +%FT%TZ)"

for binary in "$collector" "$loadgen"; do
  [ -x "$binary" ] || { echo "missing $binary; run: cargo build --release -p forewarn-collector -p forewarn-loadgen" >&2; exit 1; }
done
for tool in python3 psql ss git; do
  command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 1; }
done

# The baseline collector, from its own worktree and target directory so no
# edited source of this checkout can leak into it.
if [ ! -x "$baseline" ]; then
  echo "== building the baseline collector ($baseline_commit) into $(dirname "$(dirname "$baseline")"); 15-30 min"
  tree=$(mktemp -d -t forewarn-baseline-src.XXXXXX)
  git -C "$root" worktree add --detach "$tree" "$baseline_commit" >/dev/null
  (cd "$tree" && CARGO_INCREMENTAL=0 cargo build --release --locked -p forewarn-collector \
    --target-dir "$(dirname "$(dirname "$baseline")")") || { git -C "$root" worktree remove --force "$tree"; exit 1; }
  git -C "$root" worktree remove --force "$tree"
fi
echo "baseline: $baseline (built from $(git -C "$root" rev-parse --short "$baseline_commit"))"
echo "current:  $collector (checkout at $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- collector proto || echo ', with uncommitted changes'))"

# Open files: one per connection, in the collector and in the load generator.
ulimit -n "$(ulimit -Hn)"
fd_limit=$(ulimit -n)

work=$(mktemp -d -t forewarn-issue11.XXXXXX)
results=$work/results.tsv
: > "$results"
pids=()
databases=()
psql_admin() { psql -X -q -t -A -h "$pg_host" -p "$pg_port" -U postgres -d postgres -c "$1"; }
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for db in "${databases[@]}"; do psql_admin "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; done
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
forget() { local gone=$1 kept=() pid; for pid in "${pids[@]}"; do [ "$pid" = "$gone" ] || kept+=("$pid"); done; pids=("${kept[@]}"); }

# start_collector KIND STORE DIR [TOML]: a collector (KIND baseline or
# current) with a fresh data directory on free loopback ports and a fresh
# store; sets cpid, cport, cdb (the SQLite file or the PostgreSQL database).
start_collector() {
  local kind=$1 store=$2 dir=$3 extra=${4:-} binary=$collector
  [ "$kind" = baseline ] && binary=$baseline
  cport=$(free_port)
  mkdir -p "$dir"
  cat > "$dir/collector.toml" <<TOML
data_dir = "data"
agent_listen = "127.0.0.1:$cport"
web_listen = "127.0.0.1:$(free_port)"
server_names = ["127.0.0.1"]
TOML
  cdb=$dir/data/forewarn.sqlite3
  if [ "$store" = postgres ]; then
    cdb=forewarn_issue11_$$_${#databases[@]}
    psql_admin "CREATE DATABASE $cdb" >/dev/null
    databases+=("$cdb")
    echo "store = \"postgres://postgres@$pg_host:$pg_port/$cdb\"" >> "$dir/collector.toml"
  fi
  [ -z "$extra" ] || printf '%s\n' "$extra" >> "$dir/collector.toml"
  "$binary" --config "$dir/collector.toml" serve > "$dir/collector.log" 2>&1 &
  cpid=$!
  pids+=("$cpid")
  for _ in $(seq 300); do
    if [ -s "$dir/data/pki/ca.pem" ] && (exec 3<>"/dev/tcp/127.0.0.1/$cport") 2>/dev/null; then return 0; fi
    kill -0 "$cpid" 2>/dev/null || break
    sleep 0.2
  done
  echo "the $kind collector did not start; $dir/collector.log:" >&2
  cat "$dir/collector.log" >&2
  exit 1
}

stop_collector() {
  kill "$cpid" 2>/dev/null || true
  wait "$cpid" 2>/dev/null || true
  forget "$cpid"
  if [ -n "${cdb:-}" ] && [ "${cdb#forewarn_issue11_}" != "$cdb" ]; then
    psql_admin "DROP DATABASE IF EXISTS $cdb" >/dev/null
  fi
}

token_for() { "$1" --config "$2/collector.toml" token create --group load --expires 1d --uses "$3" | sed -n 1p; }

wait_for_line() { # FILE PATTERN PID: until PATTERN is in FILE; fails when PID ends first
  until grep -q "$2" "$1" 2>/dev/null; do
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.2
  done
}

# measure LABEL KIND STORE DEVICES RATE: one fresh collector, one load run;
# the load generator's table goes to $work/LABEL.txt and a line to results.
measure() {
  local label=$1 kind=$2 store=$3 devices=$4 target=$5 dir=$work/$1 binary=$collector
  [ "$kind" = baseline ] && binary=$baseline
  start_collector "$kind" "$store" "$dir"
  local token rate_args=() db_args=() size_before=0 size_after=0
  token=$(token_for "$binary" "$dir" "$devices")
  [ "$target" = max ] || rate_args=(--rate "$target")
  [ "$store" = sqlite ] && db_args=(--db "$cdb")
  echo "== $label: $kind collector on $store, $devices devices, $target reports/s, $duration (load $(cut -d' ' -f1 /proc/loadavg))"
  "$loadgen" --url "https://127.0.0.1:$cport" --ca-cert "$dir/data/pki/ca.pem" --token "$token" \
    --cache "$dir/devices" --devices "$devices" --duration "$duration" --change-fraction "$change" \
    --collector-pid "$cpid" "${db_args[@]}" "${rate_args[@]}" > "$work/$label.txt" 2> "$dir/loadgen.err" &
  local lpid=$!
  pids+=("$lpid")
  if ! wait_for_line "$dir/loadgen.err" "devices connected" "$lpid"; then
    wait "$lpid" || true
    echo "forewarn-loadgen failed for $label:" >&2; cat "$dir/loadgen.err" >&2; exit 1
  fi
  [ "$store" = postgres ] && size_before=$(psql_admin "SELECT pg_database_size('$cdb')")
  wait "$lpid" || { echo "forewarn-loadgen failed for $label:" >&2; cat "$dir/loadgen.err" >&2; exit 1; }
  forget "$lpid"
  if [ "$store" = postgres ]; then
    size_after=$(psql_admin "SELECT pg_database_size('$cdb')")
    echo "database              PostgreSQL grew $((size_after - size_before)) bytes over the window (pg_database_size)" >> "$work/$label.txt"
  fi
  echo "threads in collector  $(awk '/^Threads:/ {print $2}' "/proc/$cpid/status")" >> "$work/$label.txt"
  kill -0 "$cpid" 2>/dev/null || { echo "the $kind collector died during $label; $dir/collector.log:" >&2; tail -20 "$dir/collector.log" >&2; exit 1; }
  cat "$work/$label.txt"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' ingest "$label" "$kind" "$store" "$devices" "$target" >> "$results"
  stop_collector
}

# held KIND: HELD agents enroll, connect, send one report each, then hold
# their connections without a call while the collector is measured.
held() {
  local kind=$1 label=held-$1 dir=$work/held-$1 binary=$collector extra=
  [ "$kind" = baseline ] && binary=$baseline
  # All simulated agents come from 127.0.0.1, where a real fleet comes from
  # thousands of addresses: an operator behind one NAT raises the per-source
  # cap the same way (docs/connections.md). The baseline had no caps.
  [ "$kind" = current ] && extra="[connections]
max_unauthenticated_per_source = 512"
  start_collector "$kind" sqlite "$dir" "$extra"
  local token half=$((count / 2)) lpids=() i
  token=$(token_for "$binary" "$dir" "$count")
  echo "== $label: $kind collector on sqlite, $count agents connected and idle (open file limit $fd_limit), load $(cut -d' ' -f1 /proc/loadavg)"
  for i in 0 1; do
    "$loadgen" --url "https://127.0.0.1:$cport" --ca-cert "$dir/data/pki/ca.pem" --token "$token" \
      --cache "$dir/devices" --first-device $((i * half)) --devices "$half" --rate 0 --duration 2h \
      --enroll-concurrency 8 --connect-concurrency 16 \
      --collector-pid "$cpid" > "$dir/loadgen-$i.txt" 2> "$dir/loadgen-$i.err" &
    lpids+=($!)
    pids+=($!)
  done
  local started=$SECONDS
  for i in 0 1; do
    wait_for_line "$dir/loadgen-$i.err" "devices connected" "${lpids[$i]}" || {
      echo "forewarn-loadgen $i failed for $label:" >&2; cat "$dir/loadgen-$i.err" >&2; exit 1; }
  done
  echo "   enrolled, connected and first reports in $((SECONDS - started)) s"
  local established cpu0 cpu1 ticks
  ticks=$(getconf CLK_TCK)
  # The collector is still busy for a while after the last first report
  # (about 20 s at 20,000 agents): its ticket worker works through the
  # notifications the first reports' alerts queued (26,169 at 19,744 agents,
  # certificates about to expire in the synthetic reports; a profile put 92 %
  # of that time in the SQLite thread claiming outbox rows). The idle window
  # starts once 10 s pass on less than 5 % of a core, or after 180 s.
  local settle_started=$SECONDS before after
  after=$(awk '{print $14 + $15}' "/proc/$cpid/stat")
  while :; do
    before=$after
    sleep 10
    after=$(awk '{print $14 + $15}' "/proc/$cpid/stat")
    if (( (after - before) * 20 < ticks * 10 || SECONDS - settle_started >= 180 )); then
      break
    fi
  done
  echo "   settled after $((SECONDS - settle_started)) s (the collector's work after the first reports)"
  established=$(ss -Htn state established "( sport = :$cport )" | wc -l)
  cpu0=$(awk '{print $14 + $15}' "/proc/$cpid/stat")
  sleep "$held_window"
  cpu1=$(awk '{print $14 + $15}' "/proc/$cpid/stat")
  local rss hwm threads
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$cpid/status")
  hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$cpid/status")
  threads=$(awk '/^Threads:/ {print $2}' "/proc/$cpid/status")
  local cpu_per_minute
  cpu_per_minute=$(python3 -c "print(f'{($cpu1 - $cpu0) / $ticks * 60 / $held_window:.3f}')")
  {
    echo "agents                $count ($established connections established to the collector)"
    echo "idle window           $held_window s, no reports"
    echo "collector CPU/minute  $cpu_per_minute s"
    echo "collector RSS         $((rss / 1024)) MiB at end · peak $((hwm / 1024)) MiB (VmHWM, enrollment and first reports included)"
    echo "threads in collector  $threads"
    echo "load average          $(cat /proc/loadavg)"
  } | tee "$work/$label.txt"
  grep -h "devices connected" "$dir"/loadgen-*.err | sed 's/^/   load generator: /'
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' held "$label" "$kind" sqlite "$count" 0 >> "$results"
  for i in 0 1; do kill "${lpids[$i]}" 2>/dev/null || true; wait "${lpids[$i]}" 2>/dev/null || true; forget "${lpids[$i]}"; done
  stop_collector
}

for part in $parts; do
  case $part in
    ingest)
      # Baseline and current alternate, so a change in the machine's load
      # touches both sides of each ratio alike.
      for scenario in "$small max" "$large max" "$small $rate"; do
        read -r devices target <<< "$scenario"
        name=$devices-$target
        measure "baseline-sqlite-$name" baseline sqlite "$devices" "$target"
        measure "current-sqlite-$name" current sqlite "$devices" "$target"
        measure "current-postgres-$name" current postgres "$devices" "$target"
      done
      ;;
    held)
      # Each collector needs a descriptor per agent plus its own; each of
      # the two load generators one per agent it holds.
      count=$held
      room=$((fd_limit - 256))
      if [ "$count" -gt "$room" ]; then
        echo "== the open file limit is $fd_limit (ulimit -Hn): holding $room agents, not $count; raise the hard limit to measure $count"
        count=$room
      fi
      count=$((count / 2 * 2))
      held baseline
      held current
      ;;
    two)
      echo "== two collectors on one PostgreSQL (loadgen/run-two-collectors.sh), ${TWO_DEVICES:-1000} devices, $duration"
      COLLECTOR=$collector LOADGEN=$loadgen DEVICES=${TWO_DEVICES:-1000} DURATION=$duration CHANGE=$change \
        bash "$here/run-two-collectors.sh" | tee "$work/two.txt"
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' two two current postgres "${TWO_DEVICES:-1000}" max >> "$results"
      ;;
    store)
      echo "== store measurements (ignored tests, debug build; minutes)"
      if ! (cd "$root" && CARGO_INCREMENTAL=0 cargo nextest run -p forewarn-collector --lib \
          --run-ignored only -E 'test(/::measure::/)' --test-threads 1 --no-capture) 2>&1 \
          | tee "$work/store.txt"; then
        echo "the store measurements failed" >&2
        exit 1
      fi
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' store store current both 0 0 >> "$results"
      ;;
    *) echo "unknown part $part (ingest, held, two, store)" >&2; exit 1 ;;
  esac
done

echo
echo "== summary (current / baseline from this run; load average now $(cut -d' ' -f1-3 /proc/loadavg))"
python3 "$here/issue11_table.py" "$results" "$work"
