#!/usr/bin/env bash
# Set up everything the tests need on a fresh machine, lint, bring the cluster backend's
# services up on loopback (the `cluster` test params run against them), then run all the
# tests; the services are stopped however the tests end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test,dlib,cluster,ray
if [ -x scripts/install-browser.sh ]; then scripts/install-browser.sh; fi
. .venv/bin/activate
ruff check src tests benchmarks
services="$(mktemp -d "${TMPDIR:-/tmp}/faceledger-services.XXXXXX")"
if [ -x scripts/services.sh ]; then
  up() { scripts/services.sh up "$services"; }
  down() { scripts/services.sh down "$services" || true; }
else  # only the PostgreSQL service exists in this checkout
  up() { scripts/services/postgres.sh up "$services"; }
  down() { scripts/services/postgres.sh down "$services" || true; }
fi
trap 'down; rm -rf "$services"' EXIT
up
export FACELEDGER_SERVICES_DIR="$services"
python -m pytest "$@"
