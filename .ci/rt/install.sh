#!/usr/bin/env bash
# Install Request Tracker 5 from Debian's archive with the SQLite backend, unattended,
# for the collector's end-to-end ticketing tests. Idempotent. Does not start a server:
# the test starts its own on a free loopback port (.ci/rt/start.sh).
# Run as root. Prints how long it took.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
started_ns=$(date +%s%N)

if [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' request-tracker5 2>/dev/null)" != "ii " ]]; then
    # The web base URL only matters for links in mail; the tests run on a free port.
    debconf-set-selections <<'PRESEED'
request-tracker5 request-tracker5/rtname string rt.forewarn.test
request-tracker5 request-tracker5/organization string forewarn.test
request-tracker5 request-tracker5/correspondaddress string rt@forewarn.test
request-tracker5 request-tracker5/commentaddress string rt-comment@forewarn.test
request-tracker5 request-tracker5/webbaseurl string http://127.0.0.1
request-tracker5 request-tracker5/webpath string /rt
request-tracker5 request-tracker5/handle-siteconfig-permissions boolean true
request-tracker5 request-tracker5/install-cronjobs boolean false
request-tracker5 request-tracker5/dbconfig-install boolean true
request-tracker5 request-tracker5/database-type select sqlite3
request-tracker5 request-tracker5/initial-root-password password forewarn-rt-root
PRESEED
    apt-get update -q -o DPkg::Lock::Timeout=600
    apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        request-tracker5 rt5-db-sqlite rt5-standalone
fi

# Our site config: REST 2 under /rt, logs on stderr (no syslog in CI), outgoing mail to an
# mbox file instead of the MTA. Loaded after the package's own files (name order).
cat > /etc/request-tracker5/RT_SiteConfig.d/99-forewarn-ci.pm <<'SITE'
Set($WebPath, "/rt");
Set($WebDomain, "127.0.0.1");
Set($LogToSyslog, undef);
Set($LogToSTDERR, "warning");
Set($MailCommand, "mbox");
SITE
# The server runs as www-data: it must read the site config (created 0600 root) and
# write RT's cache and database.
chown root:www-data /etc/request-tracker5/RT_SiteConfig.pm /etc/request-tracker5/RT_SiteConfig.d/99-forewarn-ci.pm
chmod 640 /etc/request-tracker5/RT_SiteConfig.pm /etc/request-tracker5/RT_SiteConfig.d/99-forewarn-ci.pm
chown -R www-data /var/cache/request-tracker5 /var/lib/request-tracker5

echo "Request Tracker 5 installed in $(( ($(date +%s%N) - started_ns) / 1000000 )) ms"
