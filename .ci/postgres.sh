#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: `start` makes one in a temp
# dir on a free loopback port and prints the lines to eval; `stop DIR` (or
# with FLOCK_PG_DIR set) stops it and removes the dir.
#
#   eval "$(bash .ci/postgres.sh start)"   # exports FLOCK_TEST_DATABASE_URL and FLOCK_PG_DIR
#   npx vitest run coordinator/store
#   bash .ci/postgres.sh stop
#
# Trust authentication on 127.0.0.1 only; never use this for real data.
set -euo pipefail

PG_BIN=${PG_BIN:-}
find_bin() {
  if [ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ]; then return; fi
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ]; then PG_BIN=$d; fi
  done
  if [ -z "$PG_BIN" ]; then
    echo "== installing Debian postgresql (initdb not found)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >/dev/null
    for d in /usr/lib/postgresql/*/bin; do
      if [ -x "$d/initdb" ]; then PG_BIN=$d; fi
    done
  fi
  [ -n "$PG_BIN" ] || { echo "postgres.sh: no initdb after installing postgresql" >&2; exit 1; }
}

# initdb and postgres refuse to run as root: run them as the postgres user then.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  node -e "const s=require('node:net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

start() {
  find_bin
  local dir port
  dir=$(mktemp -d "${TMPDIR:-/tmp}/flock-pg.XXXXXX")
  if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
  as_pg "$PG_BIN/initdb" -D "$dir/data" -A trust -U postgres --no-sync >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; rm -rf "$dir"; exit 1; }
  # A free port can be taken between the probe and the bind: try a few.
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    # fsync off: a throwaway test cluster; durability is the store's concern, not this server's.
    if as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null; then
      echo "$port" >"$dir/port"
      break
    fi
    port=
  done
  [ -n "$port" ] || { cat "$dir/server.log" >&2; rm -rf "$dir"; exit 1; }
  as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres flock_test
  echo "export FLOCK_PG_DIR=$dir"
  echo "export FLOCK_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$port/flock_test"
}

stop() {
  find_bin
  local dir=${1:-${FLOCK_PG_DIR:-}}
  [ -n "$dir" ] || { echo "postgres.sh stop: give the cluster dir (or set FLOCK_PG_DIR)" >&2; exit 2; }
  case "$dir" in */flock-pg.*) ;; *) echo "postgres.sh stop: $dir is not a flock-pg cluster dir" >&2; exit 2 ;; esac
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null || true
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop "${2:-}" ;;
  *) echo "usage: $0 start | stop [DIR]" >&2; exit 2 ;;
esac
