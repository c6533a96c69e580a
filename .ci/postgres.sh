#!/usr/bin/env bash
# Starts a local PostgreSQL server for the gateway's tests and prints the DATABASE_URL to use.
#
# stdout carries the URL only (so `url=$(.ci/postgres.sh)` works); progress goes to stderr.
# Idempotent: installs Debian's `postgresql` only if missing, reuses the cluster, role and
# database, and leaves a running server running. Listens on loopback only. Needs root (or sudo)
# for apt-get and for acting as the `postgres` system user.
set -euo pipefail

NAME=store_notifications          # role, password and database (a throwaway test server)
log() { printf 'postgres.sh: %s\n' "$*" >&2; }

SUDO=
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { log "needs root or sudo"; exit 1; }
    SUDO=sudo
fi

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || ! command -v pg_ctlcluster >/dev/null; then
    log "installing Debian's postgresql"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >&2
    $SUDO apt-get install -y -qq --no-install-recommends postgresql >&2
fi

version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
cluster=main
if ! pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1 == v && $2 == c { found = 1 } END { exit !found }'; then
    log "creating cluster $version/$cluster"
    $SUDO pg_createcluster "$version" "$cluster" >&2
fi

# Loopback only, whatever the cluster's own configuration says (conf.d is read last).
conf="/etc/postgresql/$version/$cluster/conf.d/store-notifications.conf"
if [ "$(cat "$conf" 2>/dev/null || true)" != "listen_addresses = '127.0.0.1'" ]; then
    echo "listen_addresses = '127.0.0.1'" | $SUDO tee "$conf" >/dev/null
    if pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1 == v && $2 == c && $4 == "online" { found = 1 } END { exit !found }'; then
        $SUDO pg_ctlcluster "$version" "$cluster" restart >&2
    fi
fi

port=$(pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1 == v && $2 == c { print $3 }')
if ! pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1 == v && $2 == c && $4 == "online" { found = 1 } END { exit !found }'; then
    log "starting cluster $version/$cluster on 127.0.0.1:$port"
    $SUDO pg_ctlcluster "$version" "$cluster" start >&2
fi

for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p "$port" && break
    sleep 1
done
pg_isready -q -h 127.0.0.1 -p "$port" || { log "server on 127.0.0.1:$port is not ready"; exit 1; }

as_postgres() {
    if command -v runuser >/dev/null && [ -z "$SUDO" ]; then
        runuser -u postgres -- "$@"
    else
        $SUDO -u postgres "$@"
    fi
}
psql_admin() { as_postgres psql -p "$port" -v ON_ERROR_STOP=1 -qAtX "$@"; }

if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$NAME'")" != 1 ]; then
    log "creating role $NAME"
    psql_admin -c "CREATE ROLE $NAME LOGIN PASSWORD '$NAME'" >&2
else
    psql_admin -c "ALTER ROLE $NAME LOGIN PASSWORD '$NAME'" >&2
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$NAME'")" != 1 ]; then
    log "creating database $NAME"
    psql_admin -c "CREATE DATABASE $NAME OWNER $NAME" >&2
fi

echo "postgres://$NAME:$NAME@127.0.0.1:$port/$NAME"
