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
# phone formats come from the dependencies (pillow-heif, Pillow's own AVIF plugin): fail here,
# not in the middle of an ingest, if a wheel without them was installed
python - <<'PY'
import pillow_heif
from PIL import features
assert features.check("avif"), "this Pillow build has no AVIF support (pillow>=11.3 wheels do)"
assert pillow_heif.libheif_info()["decoders"], "pillow-heif has no HEIF decoder"
PY
case ",$extras," in
  *,peers,*) pip install --quiet --no-deps "face_recognition==1.3.0" ;;
esac
