#!/usr/bin/env bash
# Milvus 2.3 standalone (PyPI `milvus`, the real server it embeds) for the cluster store.
#
# Usage: scripts/services/milvus.sh up|down|status DIR
#
#   up      start the server with its data under DIR/milvus (etcd, rocksmq, segment files)
#           in a network namespace of its own (below), its gRPC API on that namespace's
#           address (port: $FACELEDGER_MILVUS_PORT, else the first free one from 19530),
#           wait until /healthz says OK and a client lists collections, write
#           DIR/milvus.env:
#             FACELEDGER_MILVUS_URL=milvus://HOST:PORT/faceledger
#             FACELEDGER_MILVUS_DATA=DIR/milvus/data   (what an erasure scan reads)
#             FACELEDGER_MILVUS_USER=root, FACELEDGER_MILVUS_PASSWORD=...
#           The server runs with authentication on: at its first start the default root
#           password is replaced by a random one, kept in DIR/milvus/password (0600).
#           Running it again while the server is up only rewrites the env file.
#   down    stop the server by the PID it recorded (SIGTERM, SIGKILL after 30 s), then
#           delete its network namespace.
#   status  exit 0 and print host:port if the server answers, 1 otherwise.
#
# Network namespace. Milvus 2.3 has no setting for the address its ports bind: the proxy,
# the coordinators' and nodes' internal gRPC ports (which ask for no password) and the
# metrics port all listen on every interface. So, when it can (root, iproute2), this script
# runs the server in a network namespace of its own, joined to this host by one veth pair
# (10.231.X.Y/30): the host's processes reach it at the namespace's address, nothing else
# does (the namespace has no default route, so it answers nobody outside that /30), and
# its embedded etcd's fixed ports no longer collide with another Milvus on the machine.
# Without root, or with FACELEDGER_MILVUS_NETNS=0, the server runs on the host, on every
# interface, and `up` says so.
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

# ---- the namespace ---------------------------------------------------------------------
tag="$(printf %s "$dir" | sha256sum | cut -c1-8)"
netns="flmilvus-$tag"
veth_host="flmh$tag"   # interface names: at most 15 characters
veth_ns="flmn$tag"

host_of() { cat "$base/host" 2>/dev/null || echo 127.0.0.1; }

# a /30 (first address B) in a 10.231.A.0/24 that no interface or route of this host
# touches: "10.231.A B"
free_block() {
  local seed a b i used
  used="$(ip -4 -o addr show 2>/dev/null; ip -4 route show 2>/dev/null)"
  seed=$((16#$tag))
  for i in $(seq 0 255); do
    a=$(( (seed / 64 + i) % 256 )); b=$(( (seed % 64) * 4 ))
    printf '%s\n' "$used" | grep -q "10\.231\.$a\." || { echo "10.231.$a $b"; return 0; }
  done
  return 1
}

netns_down() {
  ip netns del "$netns" 2>/dev/null || true
  ip link del "$veth_host" 2>/dev/null || true
}

# make the namespace and its link; write the server's address in it to $base/host
netns_up() {
  local net first
  netns_down
  read -r net first <<<"$(free_block)" || return 1
  [ -n "$first" ] || return 1
  ip netns add "$netns" 2>/dev/null || return 1
  if ip link add "$veth_host" type veth peer name "$veth_ns" &&
     ip link set "$veth_ns" netns "$netns" &&
     ip addr add "$net.$((first + 1))/30" dev "$veth_host" &&
     ip link set "$veth_host" up &&
     ip netns exec "$netns" ip addr add "$net.$((first + 2))/30" dev "$veth_ns" &&
     ip netns exec "$netns" ip link set "$veth_ns" up &&
     ip netns exec "$netns" ip link set lo up; then
    echo "$net.$((first + 2))" >"$base/host"
    return 0
  fi
  netns_down
  return 1
}
# ------------------------------------------------------------------------------------------

port_of() { "$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
              "$base/ports.json" "$1"; }

# answers: the server is healthy and a client signed in as root lists collections. At the
# first start (no DIR/milvus/password yet) it signs in with Milvus's default password and
# replaces it with a random one (written to password.new first, so a failed change locks
# nobody out).
answers() {
  [ -f "$base/ports.json" ] || return 1
  curl -fsS --max-time 2 "http://$(host_of):$(port_of metrics_port)/healthz" 2>/dev/null \
    | grep -q OK || return 1
  (umask 077; "$py" - "$(host_of)" "$(port_of port)" "$base" <<'PY' >/dev/null 2>&1)
import os, secrets, sys, warnings
warnings.filterwarnings("ignore")
from pymilvus import connections, utility
host, port, base = sys.argv[1], int(sys.argv[2]), sys.argv[3]
kept, new = os.path.join(base, "password"), os.path.join(base, "password.new")
def connect(password):
    connections.connect(alias="probe", host=host, port=port, timeout=5,
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
    printf 'FACELEDGER_MILVUS_URL=milvus://%s:%s/faceledger\n' "$(host_of)" "$(port_of port)"
    printf 'FACELEDGER_MILVUS_DATA=%s\n' "$base/data"
    printf 'FACELEDGER_MILVUS_USER=root\n'
    printf 'FACELEDGER_MILVUS_PASSWORD=%s\n' "$(cat "$base/password")"
  } >"$envfile.tmp"
  mv "$envfile.tmp" "$envfile"
}

start() {
  if server_pid >/dev/null && answers; then
    write_env
    echo "milvus: already up on $(host_of):$(port_of port)"
    return
  fi
  "$py" -c 'import milvus, pymilvus' 2>/dev/null || {
    echo "milvus: the milvus and pymilvus packages are missing (scripts/setup.sh test,dlib,cluster)" >&2
    exit 1
  }
  mkdir -p "$base"
  rm -f "$base/ports.json" "$pidfile" "$base/host"
  local inside=()
  if [ "${FACELEDGER_MILVUS_NETNS:-1}" != 0 ] && [ "$(id -u)" = 0 ] && command -v ip >/dev/null \
     && netns_up; then
    inside=(ip netns exec "$netns")  # ip execs the command: the PID stays the server's
  else
    echo "milvus: warning: no network namespace (needs root and iproute2, or" \
         "FACELEDGER_MILVUS_NETNS=0 was set): the server's ports listen on every interface" >&2
  fi
  # setsid: the server outlives this shell and the terminal's signals
  setsid "${inside[@]}" "$py" "$here/milvus_server.py" "$base" "${FACELEDGER_MILVUS_PORT:-}" \
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
  echo "milvus: up on $(host_of):$(port_of port) (pid $(cat "$pidfile"))"
}

stop() {
  local pid
  if ! pid="$(server_pid)"; then
    echo "milvus: not running"
    rm -f "$pidfile"
  else
    terminate milvus "$pid" "$pidfile"
  fi
  if [ -f "$base/host" ]; then netns_down; fi
  rm -f "$base/host"
}

case "$cmd" in
  up) start ;;
  down) stop ;;
  status)
    if server_pid >/dev/null && answers; then
      echo "milvus: up on $(host_of):$(port_of port) (pid $(cat "$pidfile"))"
    else
      echo "milvus: down"
      exit 1
    fi
    ;;
  *) echo "usage: $0 up|down|status DIR" >&2; exit 2 ;;
esac
