#!/usr/bin/env bash
# Create .venv and install faceledger with everything it needs (idempotent).
# Usage: scripts/setup.sh [extras]   e.g. scripts/setup.sh test   or   scripts/setup.sh test,dlib,cluster
# (cluster: the Milvus, SeaweedFS, PostgreSQL-client and S3-client packages that
# scripts/services.sh and the cluster store need; PostgreSQL itself is Debian's package,
# installed by scripts/services/postgres.sh where it is missing)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python3 -m venv .venv
. .venv/bin/activate
pip install --quiet --upgrade pip >/dev/null 2>&1 || true
if [ -n "$extras" ]; then
  pip install --quiet -e ".[$extras]"
else
  pip install --quiet -e .
fi
