#!/usr/bin/env bash
# Ingest all of LFW (13,233 photos), interrupt it with Ctrl-C (SIGINT) part-way, resume it,
# then check that catalog and index agree, that no photo is there twice, and that a search
# with another photo of a person with many images returns that person's photos first.
# Usage: benchmarks/lfw_full_ingest.sh [DATA_DIR] [SECONDS_BEFORE_INTERRUPT]
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
data="${1:-/tmp/faceledger-lfw-full}"
wait_s="${2:-60}"
lfw="${FACELEDGER_DATASETS_DIR:-../shared/datasets}/lfw/images"
rm -rf "$data"
faceledger init "$data"
faceledger --data "$data" source add lfw --path "$lfw" --controller "LFW benchmark" \
  --basis legitimate-interests --art9 archiving-research --purpose "accuracy and scale benchmark" \
  --retention 30d --minors-policy none-expected
echo "== ingest, interrupted after ${wait_s} s"
timeout -s INT "$wait_s" faceledger --data "$data" ingest lfw || true
faceledger --data "$data" check
echo "== resume"
faceledger --data "$data" ingest lfw
faceledger --data "$data" check
faceledger --data "$data" status
python - "$data" <<'PY'
import sqlite3, sys
conn = sqlite3.connect(f"{sys.argv[1]}/catalog.db")
n, distinct = conn.execute("SELECT COUNT(*), COUNT(DISTINCT uri) FROM photos").fetchone()
print(f"photo rows {n}, distinct URIs {distinct}")
assert n == distinct == 13233, "every LFW photo exactly once"
PY
echo "== search with George_W_Bush_0100 (itself ingested) and Colin_Powell_0007"
for probe in George_W_Bush/George_W_Bush_0100.jpg Colin_Powell/Colin_Powell_0007.jpg; do
  faceledger --data "$data" search "$lfw/$probe" -k 10 --largest --purpose benchmark --case LFW-FULL
done
