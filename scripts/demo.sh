#!/usr/bin/env bash
# The main job on the embedded default store: set up, build a demo store from a small LFW
# sample under a recorded lawful basis, and search it with another photo of a person in it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. .venv/bin/activate
exec faceledger --data "${FACELEDGER_DATA_DIR:-data}" demo "$@"
