#!/usr/bin/env bash
# Milvus 2.3 standalone (PyPI `milvus`, the real server it embeds) for the cluster store.
#
# Usage: scripts/services/milvus.sh up|down|status DIR
#
#   up      start the server with its data under DIR/milvus (etcd, rocksmq, segment files),
#           its gRPC API on 127.0.0.1 (port: $FACELEDGER_MILVUS_PORT, else the first free one
#           from 19530), wait until /healthz says OK and a client lists collections, write
#           DIR/milvus.env:
#             FACELEDGER_MILVUS_URL=milvus://127.0.0.1:PORT/faceledger
#             FACELEDGER_MILVUS_DATA=DIR/milvus/data   (what an erasure scan reads)
#             FACELEDGER_MILVUS_USER=root, FACELEDGER_MILVUS_PASSWORD=...
#           The server runs with authentication on: at its first start the default root
#           password is replaced by a random one, kept in DIR/milvus/password (0600).
#           Running it again while the server is up only rewrites the env file.
#   down    stop the server by the PID it recorded (SIGTERM, SIGKILL after 30 s).
#   status  exit 0 and print host:port if the server answers, 1 otherwise.
#
# Needs the `cluster` extra (scripts/setup.sh test,dlib,cluster). Settings that differ
# from the package's defaults: scripts/services/milvus_server.py.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cmd="${1:-}"
dir="${2:-}"
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 up|down|status DIR" >&2
  exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
base="$dir/milvus"
envfile="$dir/milvus.env"
pidfile="$base/server.pid"
logfile="$base/server.log"
py="${FACELEDGER_PYTHON:-python3}"

server_pid() {
  [ -f "$pidfile" ] || return 1
  local pid
  pid="$(cat "$pidfile")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # the PID is a milvus server (not a reused number)
  case "$(cat "/proc/$pid/comm" 2>/dev/null)" in milvus|python*) ;; *) return 1 ;; esac
  echo "$pid"
}

port_of() { "$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
              "$base/ports.json" "$1"; }

# answers: the server is healthy and a client signed in as root lists collections. At the
# first start (no DIR/milvus/password yet) it signs in with Milvus's default password and
# replaces it with a random one (written to password.new first, so a failed change locks
# nobody out).
answers() {
  [ -f "$base/ports.json" ] || return 1
  curl -fsS --max-time 2 "http://127.0.0.1:$(port_of metrics_port)/healthz" 2>/dev/null \
    | grep -q OK || return 1
  (umask 077; "$py" - "$(port_of port)" "$base" <<'PY' >/dev/null 2>&1)
import os, secrets, sys, warnings
warnings.filterwarnings("ignore")
from pymilvus import connections, utility
port, base = int(sys.argv[1]), sys.argv[2]
kept, new = os.path.join(base, "password"), os.path.join(base, "password.new")
def connect(password):
    connections.connect(alias="probe", host="127.0.0.1", port=port, timeout=5,
                        user="root", password=password)
    utility.list_collections(using="probe", timeout=5)
if os.path.exists(kept):
    connect(open(kept).read().strip())
    sys.exit(0)
if os.path.exists(new):  # a change that may have happened before the file was renamed
    try:
        connect(open(new).read().strip())
        os.replace(new, kept)
        sys.exit(0)
    except Exception:
        connections.disconnect("probe")
connect("Milvus")  # the default root password, at the first start
password = secrets.token_urlsafe(24)
with open(new, "w") as f:
    f.write(password)
utility.reset_password("root", "Milvus", password, using="probe")
os.replace(new, kept)
PY
}

write_env() {
  umask 077
  {
    printf 'FACELEDGER_MILVUS_URL=milvus://127.0.0.1:%s/faceledger\n' "$(port_of port)"
    printf 'FACELEDGER_MILVUS_DATA=%s\n' "$base/data"
    printf 'FACELEDGER_MILVUS_USER=root\n'
    printf 'FACELEDGER_MILVUS_PASSWORD=%s\n' "$(cat "$base/password")"
  } >"$envfile.tmp"
  mv "$envfile.tmp" "$envfile"
}

start() {
  if server_pid >/dev/null && answers; then
    write_env
    echo "milvus: already up on 127.0.0.1:$(port_of port)"
    return
  fi
  "$py" -c 'import milvus, pymilvus' 2>/dev/null || {
    echo "milvus: the milvus and pymilvus packages are missing (scripts/setup.sh test,dlib,cluster)" >&2
    exit 1
  }
  mkdir -p "$base"
  rm -f "$base/ports.json" "$pidfile"
  # setsid: the server outlives this shell and the terminal's signals
  setsid "$py" "$here/milvus_server.py" "$base" "${FACELEDGER_MILVUS_PORT:-}" \
    >"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"  # milvus_server.py execs the server: this is the server's PID
  local tries=0
  until answers; do
    tries=$((tries + 1))
    if ! started "$pidfile"; then
      echo "milvus: the server exited during start-up" >&2
      tail -20 "$logfile" >&2 || true
      exit 1
    fi
    if [ "$tries" -gt 180 ]; then
      echo "milvus: did not answer within 180 s" >&2
      tail -20 "$logfile" >&2
      exit 1
    fi
    sleep 1
  done
  write_env
  echo "milvus: up on 127.0.0.1:$(port_of port) (pid $(cat "$pidfile"))"
}

stop() {
  local pid
  if ! pid="$(server_pid)"; then
    echo "milvus: not running"
    rm -f "$pidfile"
    return
  fi
  terminate milvus "$pid" "$pidfile"
}

case "$cmd" in
  up) start ;;
  down) stop ;;
  status)
    if server_pid >/dev/null && answers; then
      echo "milvus: up on 127.0.0.1:$(port_of port) (pid $(cat "$pidfile"))"
    else
      echo "milvus: down"
      exit 1
    fi
    ;;
  *) echo "usage: $0 up|down|status DIR" >&2; exit 2 ;;
esac
