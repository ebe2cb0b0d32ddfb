#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests, the HA demo and the benchmarks.
#
#   scripts/pg-cluster.sh start DIR    initdb in DIR, start on a free loopback port, print the port
#   scripts/pg-cluster.sh stop DIR     stop it (the files stay until DIR is removed)
#   scripts/pg-cluster.sh restart DIR  stop and start again on the same port
#
# initdb refuses to run as root, so as root the cluster runs as Debian's unprivileged
# `postgres` user. The superuser is `cw`, password `cw-test-password` (in DIR/password), and
# TCP logins need it (scram-sha-256), as on a real server. fsync is off: this is test data.
set -euo pipefail
command=${1:?start, stop or restart}
dir=${2:?cluster directory}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "PostgreSQL server binaries not found: apt-get install postgresql (make deps does)" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  local port=$1
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null
}

case $command in
start)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  printf 'cw-test-password' >"$dir/password"
  chmod 644 "$dir/password"  # initdb runs as postgres
  as_owner "$bin/initdb" -D "$dir/data" -U cw --pwfile="$dir/password" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  # initdb (as postgres) has read it; the daemon refuses a password file others can read.
  chmod 600 "$dir/password"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  echo "$port" >"$dir/port"
  start "$port" || { cat "$dir/server.log" >&2; exit 1; }
  echo "$port"
  ;;
stop)
  as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  ;;
restart)
  as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
  start "$(cat "$dir/port")"
  ;;
*)
  echo "unknown command $command" >&2; exit 2
  ;;
esac
