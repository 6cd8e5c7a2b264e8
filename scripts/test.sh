#!/usr/bin/env bash
# Set up everything the tests need on a fresh machine, lint, then run all the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test,dlib,ray
if [ -x scripts/install-browser.sh ]; then scripts/install-browser.sh; fi
. .venv/bin/activate
ruff check src tests benchmarks
python -m pytest "$@"
