#!/usr/bin/env bash
# PostgreSQL 15 for the cluster store, on loopback, in a data dir under DIR.
#
# Usage: scripts/services/postgres.sh up|down|status DIR
#
#   up      initdb DIR/postgres/data (once), start the server on a free loopback port, wait
#           until pg_isready answers, write DIR/postgres.env (0600):
#             FACELEDGER_PG_URL=postgresql://faceledger:PASSWORD@127.0.0.1:PORT/faceledger
#           Running it again while the server is up only rewrites the env file.
#   down    stop the server by the PID it recorded (fast shutdown, then SIGKILL after 60 s).
#   status  exit 0 and print the URL's host:port if the server answers, 1 otherwise.
#
# The binaries come from the PATH or /usr/lib/postgresql/15/bin; where both lack them,
# Debian's `postgresql` package is installed with apt-get (root only). The server refuses
# to run as root, so as root it runs as the `postgres` user (the data dir is chowned to it).
#
# Settings chosen for erasure (docs/privacy.md, "PostgreSQL"): wal_level=minimal with no
# WAL senders and no archiving, and wal_recycle=off, so that after an erasure a WAL switch
# and a CHECKPOINT unlink the segments that held the erased key instead of renaming them
# for reuse with their old bytes inside.
set -euo pipefail

cmd="${1:-}"
dir="${2:-}"
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 up|down|status DIR" >&2
  exit 2
fi
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
base="$dir/postgres"
data="$base/data"
envfile="$dir/postgres.env"
pidfile="$base/server.pid"
logfile="$base/server.log"

find_bin() {
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 \
     && command -v postgres >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v postgres)")"
    return
  fi
  if [ -x /usr/lib/postgresql/15/bin/postgres ]; then
    echo /usr/lib/postgresql/15/bin
    return
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "postgres.sh: PostgreSQL 15 is not installed and installing it needs root" \
         "(apt-get install postgresql)" >&2
    exit 1
  fi
  echo "postgres.sh: installing Debian's postgresql package" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2 \
    || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2; }
  echo /usr/lib/postgresql/15/bin
}

# run a command as the user the server runs as (root cannot run it)
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

server_pid() {
  [ -f "$pidfile" ] || return 1
  local pid
  pid="$(cat "$pidfile")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # the PID is a postgres process (not a reused number)
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "postgres" ] || return 1
  echo "$pid"
}

port_of() { cat "$base/port"; }

answers() {
  "$bin/pg_isready" -q -h 127.0.0.1 -p "$(port_of)" -t 2 >/dev/null 2>&1
}

write_env() {
  local password port
  password="$(cat "$base/password")"
  port="$(port_of)"
  umask 077
  printf 'FACELEDGER_PG_URL=postgresql://faceledger:%s@127.0.0.1:%s/faceledger\n' \
    "$password" "$port" >"$envfile.tmp"
  mv "$envfile.tmp" "$envfile"
}

init_cluster() {
  mkdir -p "$base"
  if [ "$(id -u)" -eq 0 ]; then
    # the server user must reach its data dir: DIR and above need search (x) permission
    local up="$dir"
    while [ "$up" != "/" ]; do
      if ! runuser -u postgres -- test -x "$up"; then chmod o+x "$up"; fi
      up="$(dirname "$up")"
    done
  fi
  chmod 0700 "$base"
  python3 -c 'import secrets; print(secrets.token_urlsafe(24))' >"$base/password"
  chmod 0600 "$base/password"
  mkdir -p "$data"
  if [ "$(id -u)" -eq 0 ]; then chown -R postgres: "$base"; fi
  as_owner "$bin/initdb" -D "$data" -U faceledger --pwfile="$base/password" \
    --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$base/initdb.log" 2>&1 \
    || { cat "$base/initdb.log" >&2; exit 1; }
  cat >>"$data/postgresql.conf" <<EOF

# --- faceledger (scripts/services/postgres.sh) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$base'
max_connections = 200
shared_buffers = 64MB
# erasure: see docs/privacy.md ("PostgreSQL")
wal_level = minimal
max_wal_senders = 0
archive_mode = off
wal_recycle = off
wal_init_zero = on
min_wal_size = 32MB
max_wal_size = 256MB
EOF
  # loopback only, passwords only
  cat >"$data/pg_hba.conf" <<EOF
local   all   all                 scram-sha-256
host    all   all   127.0.0.1/32  scram-sha-256
EOF
}

start() {
  local port
  if [ -f "$base/port" ] && server_pid >/dev/null && answers; then
    write_env
    echo "postgres: already up on 127.0.0.1:$(port_of)"
    return
  fi
  [ -f "$data/PG_VERSION" ] || init_cluster
  port="$(free_port)"
  echo "$port" >"$base/port"
  rm -f "$pidfile"
  if [ "$(id -u)" -eq 0 ]; then touch "$logfile" && chown postgres: "$logfile" "$base/port"; fi
  as_owner "$bin/pg_ctl" -D "$data" -l "$logfile" -o "-p $port" -w -t 60 start >/dev/null \
    || { tail -20 "$logfile" >&2; exit 1; }
  head -1 "$data/postmaster.pid" >"$pidfile"
  local tries=0
  until answers; do
    tries=$((tries + 1))
    if [ "$tries" -gt 60 ]; then
      echo "postgres: did not answer on 127.0.0.1:$port within 60 s" >&2
      tail -20 "$logfile" >&2
      exit 1
    fi
    sleep 1
  done
  PGPASSWORD="$(cat "$base/password")" "$bin/psql" -q -h 127.0.0.1 -p "$port" \
    -U faceledger -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'faceledger'" \
    | grep -q 1 \
    || PGPASSWORD="$(cat "$base/password")" "$bin/psql" -q -h 127.0.0.1 -p "$port" \
         -U faceledger -d postgres -c "CREATE DATABASE faceledger"
  write_env
  echo "postgres: up on 127.0.0.1:$port (pid $(cat "$pidfile"))"
}

stop() {
  local pid
  if ! pid="$(server_pid)"; then
    echo "postgres: not running"
    rm -f "$pidfile"
    return
  fi
  kill -INT "$pid"  # fast shutdown
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; echo "postgres: stopped"; return; }
    sleep 1
  done
  echo "postgres: pid $pid did not stop in 60 s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

bin="$(find_bin)"
case "$cmd" in
  up) start ;;
  down) stop ;;
  status)
    if [ -f "$base/port" ] && server_pid >/dev/null && answers; then
      echo "postgres: up on 127.0.0.1:$(port_of) (pid $(cat "$pidfile"))"
    else
      echo "postgres: down"
      exit 1
    fi
    ;;
  *) echo "usage: $0 up|down|status DIR" >&2; exit 2 ;;
esac
