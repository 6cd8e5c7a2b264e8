#!/usr/bin/env bash
# Set up everything the tests need on a fresh machine, lint, then run all the tests.
# The cluster servers (PostgreSQL, Milvus, SeaweedFS: scripts/services.sh) are started
# before pytest, in a folder of their own, and stopped afterwards whatever happens; tests
# marked `cluster` read their settings from that folder (tests/conftest.py).
# FACELEDGER_NO_SERVICES=1 skips them (the cluster tests are then skipped outside CI).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test,dlib,cluster,ray
if [ -x scripts/install-browser.sh ]; then scripts/install-browser.sh; fi
. .venv/bin/activate
ruff check src tests benchmarks
if [ -z "${FACELEDGER_NO_SERVICES:-}" ]; then
  FACELEDGER_SERVICES_DIR="$(mktemp -d /tmp/faceledger-services.XXXXXX)"
  export FACELEDGER_SERVICES_DIR
  trap 'scripts/services.sh down all || true; rm -rf "$FACELEDGER_SERVICES_DIR"' EXIT
  scripts/services.sh up all
fi
python -m pytest "$@"
