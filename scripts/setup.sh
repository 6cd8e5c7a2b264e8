#!/usr/bin/env bash
# Create .venv and install faceledger with everything it needs (idempotent).
# Usage: scripts/setup.sh [extra ...]   e.g. scripts/setup.sh test
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
case ",$extras," in
  *,peers,*) pip install --quiet --no-deps "face_recognition==1.3.0" ;;
esac
