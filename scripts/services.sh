#!/usr/bin/env bash
# Start, stop and list the servers of the cluster store, on loopback, for tests and demos.
#
# Usage: scripts/services.sh up|down|status [postgres|milvus|seaweedfs|all]   (default: all)
#
# State: one folder, $FACELEDGER_SERVICES_DIR (default /tmp/faceledger-services), holding a
# data dir per server and one env file per server; `up` also writes DIR/services.env, all
# of them together, for `set -a; . DIR/services.env; set +a` or the pytest fixture.
#
# ---- The interface every per-service script follows -------------------------------------
#   scripts/services/NAME.sh up|down|status DIR
#   up      start NAME on 127.0.0.1 with its data under DIR/NAME/, wait until it answers a
#           real client request, write DIR/NAME.env (mode 0600, KEY=VALUE lines, no quotes)
#           with the connection settings; a second `up` while it runs only rewrites the env.
#   down    stop it by the PID it recorded in DIR/NAME/server.pid (never by name).
#   status  print one line "NAME: up on ..." and exit 0, or "NAME: down" and exit 1.
#   It installs nothing by hand: binaries come from the project's set-up (the `cluster`
#   extra: scripts/setup.sh test,dlib,cluster), except PostgreSQL, Debian's package.
#   Env keys:  postgres.env   FACELEDGER_PG_URL=postgresql://USER:PASSWORD@127.0.0.1:PORT/DB
#              milvus.env     FACELEDGER_MILVUS_URL=milvus://127.0.0.1:PORT/COLLECTION
#                             FACELEDGER_MILVUS_DATA=DIR/milvus/data
#              seaweedfs.env  FACELEDGER_S3_ENDPOINT=http://127.0.0.1:PORT
#                             AWS_ACCESS_KEY_ID=...  AWS_SECRET_ACCESS_KEY=...
#                             AWS_DEFAULT_REGION=us-east-1
# -------------------------------------------------------------------------------------------
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
cmd="${1:-}"
which="${2:-all}"
dir="${FACELEDGER_SERVICES_DIR:-/tmp/faceledger-services}"
case "$cmd" in up|down|status) ;; *)
  echo "usage: $0 up|down|status [postgres|milvus|seaweedfs|all]" >&2; exit 2 ;;
esac
case "$which" in
  all) names="postgres milvus seaweedfs" ;;
  postgres|milvus|seaweedfs) names="$which" ;;
  *) echo "services.sh: unknown service '$which' (postgres, milvus, seaweedfs or all)" >&2
     exit 2 ;;
esac
# the project's Python (its venv has pymilvus, boto3, the milvus and weed binaries)
if [ -z "${FACELEDGER_PYTHON:-}" ]; then
  if [ -x "$root/.venv/bin/python" ]; then FACELEDGER_PYTHON="$root/.venv/bin/python"
  elif [ -n "${VIRTUAL_ENV:-}" ]; then FACELEDGER_PYTHON="$VIRTUAL_ENV/bin/python"
  else FACELEDGER_PYTHON=python3; fi
fi
export FACELEDGER_PYTHON
mkdir -p "$dir"
chmod 0711 "$dir"  # the postgres user must reach its data dir below

if [ "$cmd" = down ]; then  # stop in the reverse order
  names="$(echo "$names" | tr ' ' '\n' | tac | tr '\n' ' ')"
fi
status=0
for name in $names; do
  script="$here/services/$name.sh"
  if [ ! -x "$script" ]; then
    echo "$name: no scripts/services/$name.sh in this checkout (skipped)"
    [ "$which" = all ] || status=1
    continue
  fi
  "$script" "$cmd" "$dir" || status=1
done

if [ "$cmd" = up ]; then
  umask 077
  cat "$dir"/postgres.env "$dir"/milvus.env "$dir"/seaweedfs.env 2>/dev/null | grep -v '^$' | sort -u >"$dir/services.env.tmp" || true
  mv "$dir/services.env.tmp" "$dir/services.env"
  echo "settings: $dir/services.env"
fi
if [ "$cmd" = down ] && [ "$which" = all ]; then
  rm -f "$dir/services.env"
fi
exit $status
