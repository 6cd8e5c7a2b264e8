#!/usr/bin/env bash
# The demo on a cluster store: PostgreSQL catalog, Milvus vectors, photos in S3 (SeaweedFS).
#
# Usage: scripts/cluster-demo.sh [--check]
#
#   services up -> the LFW demo sample (faceledger.demo.sample_lfw: the first photo of each
#   of the first 300 people with two or more) uploaded to s3://faceledger-demo/lfw/ ->
#   `faceledger init DIR --catalog postgresql://... --vectors milvus://...` -> an S3 source
#   -> ingest -> search with the sample's held-out probe -> erase that person -> check ->
#   services down.
#   --check: exit 0 only if the search found the right person at rank 1 and the erased
#   faces are gone from PostgreSQL (no row) and from Milvus (no vector, strong read).
set -euo pipefail
cd "$(dirname "$0")/.."
check=0
[ "${1:-}" = "--check" ] && check=1
scripts/setup.sh test,dlib,cluster >/dev/null
. .venv/bin/activate
FACELEDGER_SERVICES_DIR="${FACELEDGER_SERVICES_DIR:-$(mktemp -d /tmp/faceledger-cluster.XXXXXX)}"
export FACELEDGER_SERVICES_DIR
work="$(mktemp -d /tmp/faceledger-cluster-store.XXXXXX)"
trap 'scripts/services.sh down all || true; rm -rf "$work"' EXIT
scripts/services.sh up all
set -a; . "$FACELEDGER_SERVICES_DIR/services.env"; set +a
for key in FACELEDGER_PG_URL FACELEDGER_MILVUS_URL FACELEDGER_S3_ENDPOINT; do
  if [ -z "${!key:-}" ]; then
    echo "cluster-demo: $key is not set: a server did not come up" >&2
    exit 1
  fi
done
datasets="${FACELEDGER_DATASETS_DIR:-../shared/datasets}"

# 1. the sample into a bucket; the probe's person for the check
python - "$datasets" "$work" <<'PY'
import json, os, sys
from pathlib import Path
import boto3
from faceledger.demo import sample_lfw
photos, probe = sample_lfw(Path(sys.argv[1]) / "lfw" / "images", 300)
s3 = boto3.client("s3", endpoint_url=os.environ["FACELEDGER_S3_ENDPOINT"])
s3.create_bucket(Bucket="faceledger-demo")
for p in photos:
    s3.upload_file(str(p), "faceledger-demo", f"lfw/{p.parent.name}/{p.name}")
Path(sys.argv[2], "probe.json").write_text(json.dumps(
    {"probe": str(probe), "person": probe.parent.name}))
print(f"uploaded {len(photos)} photos to s3://faceledger-demo/lfw/; probe {probe.name}")
PY
probe="$(python -c 'import json,sys; print(json.load(open(sys.argv[1]))["probe"])' "$work/probe.json")"
person="$(python -c 'import json,sys; print(json.load(open(sys.argv[1]))["person"])' "$work/probe.json")"

# 2. the cluster store (the password stays in the driver's settings, not in the store)
pg_plain="$(python -c 'import sys; from urllib.parse import urlsplit as u
p=u(sys.argv[1]); print(f"postgresql://{p.username}@{p.hostname}:{p.port}{p.path}")' "$FACELEDGER_PG_URL")"
PGPASSWORD="$(python -c 'import sys; from urllib.parse import urlsplit as u; print(u(sys.argv[1]).password)' "$FACELEDGER_PG_URL")"
export PGPASSWORD
data="$work/store"
fl() { faceledger --data "$data" "$@"; }
fl init "$data" --catalog "$pg_plain" --vectors "$FACELEDGER_MILVUS_URL"
fl source add demo-s3 --kind s3 --path s3://faceledger-demo/lfw/ --endpoint "$FACELEDGER_S3_ENDPOINT" \
  --controller "faceledger demo (LFW, research use)" --basis legitimate-interests \
  --art9 archiving-research --purpose "demonstrate faceledger on a public research dataset" \
  --retention 30d --minors-policy none-expected
fl ingest demo-s3

# 3. search, erase, check
fl search "$probe" --purpose "cluster demo" --case DEMO-1 --json >"$work/search.json"
rank1="$(python - "$work/search.json" "$person" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))  # faceledger search --json: faces[].matches[]
faces = report.get("faces") or [{}]
matches = faces[0].get("matches") or [{}]
uri = str(matches[0].get("photo_uri", ""))
name = uri.rsplit("/", 1)[-1]
print("yes" if f"/{sys.argv[2]}/" in uri or name.startswith(sys.argv[2] + "_") else "no")
PY
)"
echo "search: rank 1 is $person: $rank1"
fl rights erase "$probe" --purpose "Art. 17 request" --case DEMO-2 --yes --json >"$work/erase.json"
fl check

# 4. gone from PostgreSQL and Milvus?
gone="$(python - "$work/erase.json" <<'PY'
import json, os, sys, warnings
warnings.filterwarnings("ignore")
import psycopg
from pymilvus import Collection, connections, utility
from faceledger.store.milvus_vectors import MilvusURL, credentials
report = json.load(open(sys.argv[1]))
ids = [int(i) for i in (report.get("face_ids") or report.get("faces") or [])]
if not ids:
    print("no"); sys.exit()
with psycopg.connect(os.environ["FACELEDGER_PG_URL"]) as conn:
    rows = conn.execute("SELECT count(*) FROM faces WHERE id = ANY(%s)", (ids,)).fetchone()[0]
url = MilvusURL.parse(os.environ["FACELEDGER_MILVUS_URL"])
connections.connect(host=url.host, port=url.port, **credentials())
left = 0
for name in utility.list_collections():
    if name.startswith(url.collection + "_"):
        c = Collection(name)
        c.load()
        left += len(c.query(f"id in {ids}", output_fields=["id"], consistency_level="Strong"))
print("yes" if rows == 0 and left == 0 else "no")
PY
)"
echo "erased faces gone from PostgreSQL and Milvus: $gone"
if [ "$check" = 1 ] && { [ "$rank1" != yes ] || [ "$gone" != yes ]; }; then
  echo "cluster-demo --check: FAILED" >&2
  exit 1
fi
echo "cluster-demo: done"
