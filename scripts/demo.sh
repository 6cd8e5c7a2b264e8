#!/usr/bin/env bash
# The main job on the embedded default store: set up, build a demo store from a small LFW
# sample under a recorded lawful basis, create a first admin key, and start the server (API
# and web UI), printing its URL and the key. Extra arguments go to `faceledger serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. .venv/bin/activate
exec faceledger --data "${FACELEDGER_DATA_DIR:-data}" serve --demo "$@"
