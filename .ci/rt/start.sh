#!/usr/bin/env bash
# Start Request Tracker 5 (installed by .ci/rt/install.sh) on 127.0.0.1:PORT for a test.
# Usage (as root): .ci/rt/start.sh PORT STATE_DIR
# Each instance gets a private copy of RT's database under STATE_DIR/rt, so tests that
# run in parallel, each with its own RT, share no tickets, write locks or caches.
# Runs bootstrap.pl on that copy first (fresh tokens into STATE_DIR/tokens.env), then
# rt-server as www-data in its own process group (pid in STATE_DIR/rt-server.pid, log in
# STATE_DIR/rt-server.log), and returns once REST 2 answers. Stop with .ci/rt/stop.sh;
# deleting STATE_DIR afterwards deletes the instance's database.
set -euo pipefail
port=${1:?usage: start.sh PORT STATE_DIR}
state=${2:?usage: start.sh PORT STATE_DIR}
here=$(cd "$(dirname "$0")" && pwd)
rt_server=/usr/share/request-tracker5/libexec/rt-server
site_dir=/etc/request-tracker5/RT_SiteConfig.d
package_db=/var/lib/dbconfig-common/sqlite3/request-tracker5/rtdb
[[ -x $rt_server && -f $package_db ]] || { echo "Request Tracker 5 is not installed: run .ci/rt/install.sh as root" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "start.sh must run as root (the server runs as www-data)" >&2; exit 2; }
mkdir -p "$state"
state=$(cd "$state" && pwd)
started_ns=$(date +%s%N)

# The instance: the package's site config plus one file, loaded last, that points RT at
# the private database. RT_SITE_CONFIG_DIR replaces RT_SiteConfig.d for this server only.
instance="$state/rt"
mkdir -p "$instance/site-config.d"
ln -sf "$site_dir"/*.pm "$instance/site-config.d/"
cat > "$instance/site-config.d/zz-instance.pm" <<SITE
Set(\$DatabaseName, "$instance/rtdb");
Set(\$WebPort, $port);
Set(\$WebBaseURL, "http://127.0.0.1:$port");
SITE
chown -R www-data "$instance"
# www-data must reach the instance directory inside the (often 0700) state directory.
chmod 711 "$state"
as_rt() { runuser -u www-data -- env RT_SITE_CONFIG_DIR="$instance/site-config.d" "$@"; }
# SQLite's online backup: a consistent copy even while another RT writes the original.
as_rt perl -MDBI -e '
    my ($from, $to) = @ARGV;
    my $db = DBI->connect("dbi:SQLite:dbname=$from", "", "", { RaiseError => 1 });
    $db->sqlite_backup_to_file($to) or die "cannot copy $from to $to\n";
' "$package_db" "$instance/rtdb"

# Bootstrap talks to the database directly, before the server starts, so no server
# worker holds stale rights or custom-field caches.
as_rt perl "$here/bootstrap.pl" > "$state/tokens.env"
bootstrapped_ns=$(date +%s%N)

setsid runuser -u www-data -- env RT_SITE_CONFIG_DIR="$instance/site-config.d" \
    "$rt_server" --host 127.0.0.1 --port "$port" \
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
        echo "RT ready on http://127.0.0.1:$port/rt: copy + bootstrap $(( (bootstrapped_ns - started_ns) / 1000000 )) ms, server start $(( (now_ns - bootstrapped_ns) / 1000000 )) ms (pgid $pid)"
        exit 0
    fi
    sleep 0.2
done
echo "rt-server did not answer within 48 s:" >&2; cat "$state/rt-server.log" >&2
kill -TERM -- "-$pid" 2>/dev/null || true
exit 1
