"""Issue 15's "done when": a store with two sources, searches, an access request, an erasure
request and an overdue request gives a report whose statistics match what was done, and
the erasure's receipt verifies; then a tampered chain makes the receipt fail.

Real models, real LFW photos, real SQLite; the requests go through subject tokens bound to
the person, as the API does it."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from click.testing import CliRunner

from faceledger import ActionContext
from faceledger.api.keys import KeyStore, Role
from faceledger.api.subject_tokens import (
    close_token_request,
    issue_subject_token,
    redeem_subject_token,
)
from faceledger.cli.main import main
from faceledger.errors import IdentityNotVerifiedError, PurposeNotDeclaredError
from faceledger.privacy.receipts import Receipt, verify_receipt
from faceledger.privacy.report import FILES, KeyFact, write_regulator_report
from faceledger.privacy.requests import RightsRequests
from faceledger.privacy.self_service import access_request, erasure_request

from ..conftest import lfw_image
from .rights_support import make_gallery, settings_for, source_kwargs

EVENTS, PRESS = ["Colin_Powell", "Tony_Blair"], ["Gerhard_Schroeder", "Hugo_Chavez"]
EVENTS_PURPOSE = "attendees find their photos"
PRESS_PURPOSE = "press archive research"


@pytest.fixture(scope="module")
def world(tmp_path_factory, lfw_dir, models_dir):
    from faceledger import init_store

    root = tmp_path_factory.mktemp("report")
    st = init_store(settings_for(root, models_dir))
    st.add_source("events", **source_kwargs(make_gallery(root / "g1", lfw_dir, EVENTS,
                                                          range(1, 4))))
    kw = source_kwargs(make_gallery(root / "g2", lfw_dir, PRESS, range(1, 4)),
                       retention_days=90)
    kw.update(purpose=PRESS_PURPOSE, controller="Daily Press SA")
    st.add_source("press", **kw)
    st.ingest("events", workers=1)
    st.ingest("press", workers=1)
    keys = KeyStore.for_data_dir(st.data_dir)
    inv = keys.create("inv-1", Role.INVESTIGATOR)
    keys.create("dpo-1", Role.AUDITOR)
    inv_actor = f"apikey:{inv.key.id}:inv-1"
    photo = lambda n, i: lfw_image(lfw_dir, n, i)  # noqa: E731
    # searches: 2 under the events purpose (one typed differently), 1 press, 1 undeclared
    st.search(photo("Colin_Powell", 5), context=ActionContext(inv_actor, EVENTS_PURPOSE, "C-1"))
    st.search(photo("Tony_Blair", 5),
              context=ActionContext(inv_actor, "  Attendees find their PHOTOS ", "C-2"))
    st.search(photo("Hugo_Chavez", 5), context=ActionContext("cli", PRESS_PURPOSE, "C-3"))
    st.search(photo("Tony_Blair", 6), context=ActionContext(inv_actor, "find a suspect", "C-4"))
    st.verify(photo("Tony_Blair", 5), photo("Tony_Blair", 6),
              context=ActionContext(inv_actor, EVENTS_PURPOSE, "C-5"))
    reg = RightsRequests.of(st)
    now = datetime.now(UTC)
    # an access request (Colin Powell), carried out with a token bound to him
    acc = reg.open("access", "Colin Powell", "email", "admin-1",
                   received_at=now - timedelta(days=3))
    issued = issue_subject_token(st, keys.tokens, "Colin Powell", "access",
                                 photo("Colin_Powell", 6), "admin-1", request_id=acc.id)
    ctx = ActionContext(f"subject-token:{issued.token.id}", "Art. 15 request", acc.id)
    token, check = redeem_subject_token(st, keys.tokens, issued.secret, "access",
                                        photo("Colin_Powell", 7), ctx)
    copy = access_request(st, check, ctx)
    close_token_request(st, token, ctx.actor)
    # an erasure request (Hugo Chavez, press), with a receipt
    era = reg.open("erasure", "Hugo Chavez", "letter", "admin-1",
                   received_at=now - timedelta(days=10))
    issued = issue_subject_token(st, keys.tokens, "Hugo Chavez", "erasure",
                                 photo("Hugo_Chavez", 6), "admin-1", request_id=era.id)
    ctx = ActionContext(f"subject-token:{issued.token.id}", "Art. 17 request", era.id)
    token, check = redeem_subject_token(st, keys.tokens, issued.secret, "erasure",
                                        photo("Hugo_Chavez", 7), ctx)
    report = erasure_request(st, check, ctx)
    receipt_json = close_token_request(st, token, ctx.actor, report.audit_seq)
    # an overdue request: received 40 days ago, still open
    late = reg.open("objection", "REQ-late", "web form", "admin-1",
                    received_at=now - timedelta(days=40))
    # a token whose attempts all fail refuses its request
    bad = reg.open("access", "Tony Blair", "email", "admin-1")
    issued = issue_subject_token(st, keys.tokens, "Tony Blair", "access",
                                 photo("Tony_Blair", 7), "admin-1", request_id=bad.id)
    for _ in range(3):
        with pytest.raises(IdentityNotVerifiedError):
            redeem_subject_token(st, keys.tokens, issued.secret, "access",
                                 photo("Gerhard_Schroeder", 5),
                                 ActionContext("subject-token:x", "Art. 15", bad.id))
    key_facts = [KeyFact(k.id, k.name, k.role.value, k.revoked_at is not None)
                 for k in keys.list(include_revoked=True)]
    out = root / "dpo"
    stats = write_regulator_report(st, out, key_facts)
    yield dict(store=st, root=root, out=out, stats=stats, acc=acc, era=era, late=late, bad=bad,
               copy=copy, report=report, receipt=receipt_json, keys=keys)
    keys.close()
    st.close()


def test_the_register_closed_the_token_requests(world):
    reg = RightsRequests.of(world["store"])
    acc, era = reg.get(world["acc"].id), reg.get(world["era"].id)
    assert (acc.state, era.state) == ("done", "done")
    assert acc.identity_checked_by == "admin-1" and len(acc.reference_sha256) == 64
    assert era.erase_seq == world["report"].audit_seq
    bad = reg.get(world["bad"].id)
    assert bad.state == "refused" and "could not be verified" in bad.outcome
    assert reg.view(world["late"].id).overdue


def test_the_receipt_verifies_and_holds_no_template(world):
    receipt = Receipt.from_json(world["receipt"])
    p = receipt.payload
    assert p["request_id"] == world["era"].id
    assert p["faces_erased"] == len(world["report"].faces) == 3
    assert p["photos_erased"] == len(world["report"].photos) == 3
    assert p["sources"] == [{"source": "press", "faces": 3, "photos": 3}]
    entry = world["store"].audit.entry(p["audit_entry"]["seq"])
    assert entry.action == "erase" and entry.hash == p["audit_entry"]["hash"]
    assert set(p) == {"format", "store_id", "request_id", "request_kind", "received_at",
                      "completed_at", "erased_at", "faces_erased", "photos_erased", "sources",
                      "audit_entry", "signing_key"}
    check = verify_receipt(world["store"], receipt)
    assert check.ok, check.reason
    path = world["root"] / "receipt.json"
    path.write_text(world["receipt"])
    result = CliRunner().invoke(main, ["--data", str(world["store"].data_dir), "receipt",
                                       "verify", str(path)],
                                env={"FACELEDGER_KEY_FILE": str(world["root"] / "keys" / "t.key")})
    assert result.exit_code == 0, result.output
    assert "verifies" in result.output


def test_statistics_match_what_was_done(world):
    s = world["stats"]
    se = s["searches"]
    assert se["total"] == 4
    assert se["by_purpose"] == {EVENTS_PURPOSE: 1, "  Attendees find their PHOTOS ": 1,
                                PRESS_PURPOSE: 1, "find a suspect": 1}
    assert se["by_role"] == {"investigator": 3, "cli": 1}
    assert list(se["by_month"].values()) == [4]
    assert se["by_declared_purpose"] == {
        "(no source declares this purpose)": {"count": 1, "sources": []},
        EVENTS_PURPOSE: {"count": 2, "sources": ["events"]},
        PRESS_PURPOSE: {"count": 1, "sources": ["press"]},
    }
    assert [f["purpose"] for f in se["undeclared_purpose"]] == ["find a suspect"]
    assert se["results"].get("match", 0) >= 4  # each probe's person is in the gallery 3x
    assert s["verifications"]["total"] == 1
    assert s["verifications"]["by_role"] == {"investigator": 1}
    req = s["requests"]
    assert req["total"] == 4
    assert req["by_kind"]["access"]["received"] == 2
    assert req["by_kind"]["access"]["done"] == 1 and req["by_kind"]["access"]["refused"] == 1
    assert req["by_kind"]["erasure"]["done"] == 1
    assert req["by_kind"]["erasure"]["median_response_days"] == pytest.approx(10, abs=0.1)
    assert req["by_kind"]["access"]["worst_response_days"] == pytest.approx(3, abs=0.1)
    assert req["by_kind"]["objection"]["overdue"] == 1
    assert [o["id"] for o in req["overdue"]] == [world["late"].id]
    assert s["erasures"] == {"count": 1, "faces": 3, "photos": 3,
                             "by_reason": {"art17-request": 1}}
    assert s["opt_outs"] == 0 and s["retention_runs"] == 0
    assert s["ingest"]["events"]["photos"] == 6 and s["ingest"]["press"]["photos"] == 6
    runs = {r.source: r for r in world["store"].runs()}
    assert s["ingest"]["events"]["faces"] == runs["events"].faces >= 6
    assert s["ingest"]["press"]["faces"] == runs["press"].faces >= 6
    assert s["ingest"]["events"]["errors"] == 0 and s["ingest"]["events"]["runs"] == 1
    on_disk = json.loads((world["out"] / "statistics.json").read_text())
    assert on_disk["searches"]["by_role"] == se["by_role"]


def test_records_of_processing_field_by_field(world):
    rec = json.loads((world["out"] / "records_of_processing.json").read_text())
    by_name = {a["source"]: a for a in rec["activities"]}
    assert set(by_name) == {"events", "press"}
    ev, pr = by_name["events"], by_name["press"]
    assert (ev["controller"], ev["purpose"], ev["lawful_basis"], ev["art9_condition"],
            ev["retention_days"], ev["minors_policy"]) == (
        "Acme Photo Ltd", EVENTS_PURPOSE, "consent", "explicit-consent", 30, "none-expected")
    assert (pr["controller"], pr["purpose"], pr["retention_days"]) == (
        "Daily Press SA", PRESS_PURPOSE, 90)
    runs = {r.source: r for r in world["store"].runs()}
    assert ev["held"] == {"photos": 6, "photo_errors": 0, "faces": runs["events"].faces}
    assert pr["held"] == {"photos": 3, "photo_errors": 0,  # 3 photos, 3 faces erased
                          "faces": runs["press"].faces - 3}
    assert any("biometric" in c for c in ev["categories_of_data"])
    roles = {r["role"]: r for r in rec["recipients"]}
    assert roles["investigator"]["active_keys"] == 1
    assert roles["investigator"]["key_names"] == ["inv-1"]
    assert roles["auditor"]["key_names"] == ["dpo-1"]
    assert rec["safeguards"]["audit_log_intact"] is True
    assert rec["safeguards"]["template_encryption"].startswith("AES-256-GCM")
    assert rec["transfers"] == "none"
    ver = json.loads((world["out"] / "audit_verification.json").read_text())
    assert ver["ok"] is True and ver["head_seq"] > 0 and len(ver["head_hash"]) == 64


def test_the_report_folder_is_complete_and_holds_no_biometrics(world):
    out, st = world["out"], world["store"]
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    dpia = (out / "dpia.md").read_text()
    assert "[OPERATOR:" in dpia and EVENTS_PURPOSE in dpia and "Daily Press SA" in dpia
    # every field of the template in docs/privacy.md is in the filled DPIA
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "privacy.md").read_text()
    template = doc.split("## DPIA template (GDPR Art. 35)")[1].split("```")[1]
    labels = [line.strip().rstrip(":").strip() for line in template.splitlines()
              if line.strip().endswith(":") and not line.strip()[0].isdigit()]
    missing = [lb for lb in labels if lb not in dpia]
    assert not missing, missing
    index = (out / "index.html").read_text()
    assert "<svg" in index and "<script" not in index.lower() and "http://" not in \
        index.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "find a suspect" in index and world["late"].id in index
    # the audit export of the period verifies with the store key
    with open(out / "audit.jsonl") as fh:
        assert st.audit.verify_export(fh).ok
    # no template (plaintext or as stored), no photo bytes
    needles: dict[str, bytes] = {"jpeg": b"\xff\xd8\xff", "png": b"\x89PNG"}
    for face_id, blob in st.catalog.embeddings(st.catalog.face_ids(st.pack.name), st.pack.name):
        vec = st.cipher.decrypt_vector(blob).astype("<f4")
        needles[f"f{face_id}"] = vec.tobytes()[:16]
        needles[f"f{face_id}-blob"] = bytes(blob)[-16:]
        needles[f"f{face_id}-f64"] = np.asarray(vec, "<f8").tobytes()[:16]
    for path in out.iterdir():
        data = path.read_bytes()
        hits = [k for k, n in needles.items() if n in data]
        assert not hits, (path.name, hits)


def test_undeclared_purposes_can_be_refused(world, lfw_dir):
    from dataclasses import replace

    st = world["store"]
    old = st.settings
    st.settings = replace(old, refuse_undeclared_purpose=True)
    try:
        with pytest.raises(PurposeNotDeclaredError, match="find a suspect"):
            st.search(lfw_image(lfw_dir, "Tony_Blair", 5),
                      context=ActionContext("cli", "find a suspect", "C-9"))
        assert st.search(lfw_image(lfw_dir, "Tony_Blair", 5),
                         context=ActionContext("cli", "Press archive research", "C-9"))
    finally:
        st.settings = old


def test_a_tampered_chain_fails_the_receipt(world):
    """Last in the module: it breaks the store's audit log."""
    st = world["store"]
    receipt = Receipt.from_json(world["receipt"])
    conn = sqlite3.connect(str(st.data_dir / "audit.db"))
    conn.execute("DROP TRIGGER entries_no_update")
    seq = receipt.payload["audit_entry"]["seq"]
    body = json.loads(conn.execute("SELECT body FROM entries WHERE seq = ?", (seq,)).fetchone()[0])
    body["outputs"]["faces"] = body["outputs"]["faces"][:1]  # hide two erased faces
    conn.execute("UPDATE entries SET body = ? WHERE seq = ?", (json.dumps(body), seq))
    conn.commit()
    conn.close()
    check = verify_receipt(st, receipt)
    assert not check.ok
    assert "audit log does not verify" in check.reason
