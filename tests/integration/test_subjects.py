"""Named subjects and consented watches on real LFW photos and real models: enrolment,
recognition with calibrated decisions, alerts raised by a later ingest and delivered to a
real HTTP server on loopback (signed, retried, redirects off-host refused), withdrawal and
expiry that leave no template bytes on disk, key rotation and erasure of the person."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from faceledger.cli.main import main
from faceledger.errors import InvalidRequestError, LawfulBasisError, NoFaceError
from faceledger.privacy.crypto import is_encrypted
from faceledger.privacy.retention import run_retention
from faceledger.privacy.rights import erase_person
from faceledger.store.subjects import SubjectTables, subject_aad, watch_aad
from faceledger.subjects.webhooks import (
    ALERT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    deliver_due,
    verify_signature,
)
from faceledger.types import Decision

from ..conftest import lfw_image
from .rights_support import scan
from .subjects_support import OP, copy_photos, start_hook, subjects_store

WATCHED = "Colin_Powell"


@pytest.fixture()
def hook():
    h = start_hook()
    yield h
    h.server.shutdown()
    h.server.server_close()


@pytest.fixture()
def store(tmp_path, models_dir, lfw_dir, hook):
    st = subjects_store(tmp_path, models_dir, lfw_dir, allowed=f"127.0.0.1:{hook.port}")
    yield st
    st.close()


def _enrol(store, lfw_dir, name=WATCHED, consent="signed form F-12", numbers=(1, 2)):
    return store.enrol_subject(name.replace("_", " "), "watchlist",
                               [lfw_image(lfw_dir, name, n) for n in numbers], OP,
                               consent=consent)


def _sealed(store):
    """Every stored subject and watch template and secret as (label, ciphertext, plain)."""
    out = {}
    for sid, tid, blob in SubjectTables(store.catalog).templates(store.pack.name):
        out[f"subject-{tid}"] = (blob, store.cipher.decrypt_blob(blob, subject_aad(sid)))
    for r in store.catalog.query("SELECT id, template, webhook_secret FROM watches"):
        out[f"watch-{r[0]}"] = (bytes(r[1]),
                                store.cipher.decrypt_blob(bytes(r[1]), watch_aad(r[0])))
        out[f"secret-{r[0]}"] = (bytes(r[2]), b"")
    return out


def test_enrol_and_recognize_with_calibrated_decisions(store, lfw_dir):
    powell = _enrol(store, lfw_dir)
    blair = _enrol(store, lfw_dir, "Tony_Blair", consent="")
    assert powell.templates == 2 and powell.source == "watchlist" and powell.consent
    assert [s.name for s in store.subjects()] == ["Colin Powell", "Tony Blair"]
    stored = _sealed(store)
    assert stored and all(is_encrypted(c) for c, _ in stored.values())

    result = store.recognize(lfw_image(lfw_dir, WATCHED, 10), context=OP)
    assert len(result.faces) >= 1
    face = max(result.faces, key=lambda f: f.box.width)
    assert face.label == "Colin Powell" and face.decision is Decision.MATCH
    assert face.subject_id == powell.id and face.similarity >= result.match_threshold
    stranger = store.recognize(lfw_image(lfw_dir, "Serena_Williams", 5), context=OP)
    assert all(f.label == "unknown" and f.subject_id is None for f in stranger.faces)
    assert all(f.decision is not Decision.MATCH for f in stranger.faces)

    entries = [e for e in store.audit.entries() if e.action == "recognize"]
    assert len(entries) == 2 and entries[0].case == OP.case and entries[0].purpose == OP.purpose
    assert entries[0].actor == OP.actor and len(entries[0].inputs["probe_sha256"]) == 64
    assert any(f["subject_id"] == powell.id for f in entries[0].outputs["faces"])
    assert "template" not in json.dumps([e.outputs for e in entries])
    enrols = [e for e in store.audit.entries() if e.action == "subject_enrol"]
    assert [e.outputs.get("subject_id") for e in enrols] == [powell.id, blair.id]

    # a search's rules: a purpose and a case are required, and refused before anything runs
    with pytest.raises(LawfulBasisError):
        store.recognize(lfw_image(lfw_dir, WATCHED, 10), context=None)


def test_enrolment_refuses_bad_input(store, lfw_dir, tmp_path):
    photo = lfw_image(lfw_dir, WATCHED, 1)
    with pytest.raises(InvalidRequestError, match="name"):
        store.enrol_subject("  ", "watchlist", [photo], OP)
    with pytest.raises(InvalidRequestError, match="invisible"):
        store.enrol_subject("Colin\u202ePowell", "watchlist", [photo], OP)
    with pytest.raises(InvalidRequestError, match="example photo"):
        store.enrol_subject("Nobody", "watchlist", [], OP)
    from faceledger.errors import NotFoundError

    with pytest.raises(NotFoundError, match="no source"):
        store.enrol_subject("Nobody", "no-such-source", [photo], OP)
    blank = tmp_path / "blank.png"
    import numpy as np
    from PIL import Image

    Image.fromarray(np.full((200, 200, 3), 128, np.uint8)).save(blank)
    with pytest.raises(NoFaceError, match="example photo 2"):
        store.enrol_subject("Colin Powell", "watchlist", [photo, blank], OP)
    assert store.subjects() == []
    refused = [e for e in store.audit.entries() if e.action == "subject_enrol"]
    assert refused == []  # refused before the intent: nothing was changed


def test_watch_alerts_on_later_ingest_delivered_signed_with_retries(store, lfw_dir, tmp_path,
                                                                    hook):
    powell = _enrol(store, lfw_dir)
    unconsented = _enrol(store, lfw_dir, "Tony_Blair", consent="")
    with pytest.raises(LawfulBasisError, match="consent"):
        store.add_watch(unconsented.id, hook.url, 30, OP)
    with pytest.raises(InvalidRequestError, match="not one the operator allowed"):
        store.add_watch(powell.id, "http://127.0.0.1:1/hook", 30, OP)
    new = store.add_watch(powell.id, hook.url, 30, OP)
    secret = bytes.fromhex(new.webhook_secret)
    assert new.watch.label == "Colin Powell" and new.watch.far == store.settings.search_far

    later = copy_photos(tmp_path / "later", lfw_dir, {WATCHED: range(5, 8),
                                                      "Hugo_Chavez": range(1, 4)})
    from .rights_support import source_kwargs

    store.add_source("later", **source_kwargs(later))
    hook.script = [500]  # the first delivery fails, its retry succeeds
    store.ingest("later", workers=1)
    alerts = store.alerts()
    assert alerts, "the watched person's new photos raise alerts"
    assert all(f"/{WATCHED}/" in a.photo_uri for a in alerts), "no stranger's photo alerts"
    assert len({a.photo_id for a in alerts}) == 3
    assert all(a.delivery == "pending" for a in alerts)  # ingest did not deliver them
    audited = [e for e in store.audit.entries() if e.action == "watch_alert"]
    assert sorted(e.outputs["alert_id"] for e in audited) == sorted(a.id for a in alerts)

    first = deliver_due(store)
    assert first["delivered"] == len(alerts) - 1 and first["retried"] == 1
    assert deliver_due(store) == {"delivered": 0, "retried": 0, "failed": 0}  # backoff
    time.sleep(1.1)
    assert deliver_due(store)["delivered"] == 1
    assert {a.delivery for a in store.alerts()} == {"delivered"}
    assert len(hook.received) == len(alerts) + 1
    for got in hook.received:
        assert verify_signature(secret, got.headers[TIMESTAMP_HEADER.lower()], got.body,
                                got.headers[SIGNATURE_HEADER.lower()])
        assert not verify_signature(b"another secret", got.headers[TIMESTAMP_HEADER.lower()],
                                    got.body, got.headers[SIGNATURE_HEADER.lower()])
        assert not verify_signature(secret, got.headers[TIMESTAMP_HEADER.lower()],
                                    got.body + b" ", got.headers[SIGNATURE_HEADER.lower()])
    bodies = hook.bodies()
    assert {b["alert_id"] for b in bodies} == {a.id for a in alerts}
    assert all(b["label"] == "Colin Powell" and b["source"] == "later" for b in bodies)
    assert {int(r.headers[ALERT_HEADER.lower()]) for r in hook.received} == {a.id for a in alerts}
    attempts = [e for e in store.audit.entries() if e.action == "webhook_delivery"]
    assert len(attempts) == len(alerts) + 1


def test_redirect_off_host_fails_and_retries_end(store, lfw_dir, tmp_path, hook):
    powell = _enrol(store, lfw_dir)
    store.add_watch(powell.id, hook.url, 30, OP)
    later = copy_photos(tmp_path / "later", lfw_dir, {WATCHED: range(5, 6)})
    from .rights_support import source_kwargs

    store.add_source("later", **source_kwargs(later))
    # off-host (localhost is another host than 127.0.0.1 for the allow-list), then same-host
    hook.script = [("redirect", f"http://localhost:{hook.port}/elsewhere")]
    store.ingest("later", workers=1)
    assert len(store.alerts()) == 1
    assert deliver_due(store)["retried"] == 1
    assert len(hook.received) == 1  # the redirect was not followed
    assert store.alerts()[0].last_error == "redirect to another host refused"
    hook.script = [("redirect", f"http://127.0.0.1:{hook.port}/moved")]
    time.sleep(1.1)
    assert deliver_due(store)["delivered"] == 1
    assert [r.path for r in hook.received[1:]] == ["/hook", "/moved"]


def test_withdrawal_and_expiry_delete_the_templates_from_disk(store, lfw_dir, hook):
    powell = _enrol(store, lfw_dir)
    kept = store.add_watch(powell.id, hook.url, 30, OP)
    gone = store.add_watch(powell.id, hook.url, 30, OP)
    expiring = store.add_watch(powell.id, hook.url, 1, OP)
    sealed = _sealed(store)
    needles = {k: v[0] for k, v in sealed.items()}
    needles.update({f"plain-{k}": v[1] for k, v in sealed.items() if v[1]})
    before = scan(store.data_dir, needles)
    assert set(before) == set(needles) - {f"plain-{k}" for k in sealed}  # ciphertexts found

    store.withdraw_watch(gone.watch.id, OP)
    later = datetime.now(UTC) + timedelta(days=2)
    assert run_retention(store, now=later, dry_run=True).expired_watches == []
    assert len(store.watches()) == 2  # a dry run deletes nothing
    report = run_retention(store, now=later)
    assert report.expired_watches == [expiring.watch.id]
    assert [w.id for w in store.watches()] == [kept.watch.id]
    for label in ("open", "closed"):
        left = scan(store.data_dir, needles)
        for wid in (gone.watch.id, expiring.watch.id):
            assert f"watch-{wid}" not in left and f"secret-{wid}" not in left, (label, left)
            assert f"plain-watch-{wid}" not in left
        assert f"watch-{kept.watch.id}" in left  # the scan finds what is still held
        store.close()
        store.__init__(store.settings)
    actions = [e.action for e in store.audit.entries()]
    assert actions.count("watch_delete") == 2
    expired = [e for e in store.audit.entries() if e.action == "watch_delete"][-1]
    assert expired.inputs["reason"] == "expired" and expired.outputs["deleted"] == [
        expiring.watch.id]


def test_key_rotation_reseals_subjects_and_watches(store, lfw_dir, hook):
    from faceledger.privacy.keys import rotate_keys

    powell = _enrol(store, lfw_dir)
    new = store.add_watch(powell.id, hook.url, 30, OP)
    old = {k: v[0] for k, v in _sealed(store).items()}
    report = rotate_keys(store)
    assert report.others["subject_templates"] == 3  # two subject templates and one watch
    after = _sealed(store)
    assert set(after) == set(old) and all(after[k][0] != old[k] for k in old)
    assert scan(store.data_dir, old) == {}
    store.close()
    store.__init__(store.settings)
    result = store.recognize(lfw_image(lfw_dir, WATCHED, 10), context=OP)
    assert any(f.subject_id == powell.id for f in result.faces)
    assert store.watches()[0].id == new.watch.id


def test_erasure_of_the_person_takes_their_enrolment_and_watch(store, lfw_dir, hook):
    powell = _enrol(store, lfw_dir)
    blair = _enrol(store, lfw_dir, "Tony_Blair")
    store.add_watch(powell.id, hook.url, 30, OP)
    blair_watch = store.add_watch(blair.id, hook.url, 30, OP)
    needles = {k: v[0] for k, v in _sealed(store).items() if k.startswith("subject")}
    assert len(needles) == 4
    from faceledger.privacy.access import build_access_data, find_person

    copy = build_access_data(store, find_person(store, [lfw_image(lfw_dir, WATCHED, 4)]))
    named = copy["named_subjects"]
    assert [n["subject_id"] for n in named] == [powell.id], "Art. 15: the enrolment is listed"
    assert named[0]["lawful_basis"] == "legitimate-interests" and named[0]["watches"]
    assert "template" not in json.dumps(named).replace('"templates"', "")
    erase_person(store, [lfw_image(lfw_dir, WATCHED, 4)], face_ids=[], context=OP)
    assert [s.id for s in store.subjects()] == [blair.id]
    assert [w.id for w in store.watches()] == [blair_watch.watch.id]
    left = scan(store.data_dir, needles)
    kept = {f"subject-{t}" for s, t, _b in
            SubjectTables(store.catalog).templates(store.pack.name)}
    assert set(left) == kept, "the erased person's templates are gone, the other's stay"
    forget = [e for e in store.audit.entries() if e.action == "subject_forget"]
    assert forget and forget[-1].inputs["subjects"] == [powell.id]


def test_cli_subjects_recognize_and_watches(store, lfw_dir, hook, tmp_path):
    settings = store.settings
    store.close()
    env = {"FACELEDGER_KEY_FILE": str(settings.key_file),
           "FACELEDGER_MODELS_DIR": str(settings.models_dir),
           "FACELEDGER_WEBHOOK_ALLOWED_HOSTS": f"127.0.0.1:{hook.port}"}
    runner = CliRunner()
    base = ["--data", str(settings.data_dir)]
    r = runner.invoke(main, [*base, "subjects", "enrol", "Colin Powell", "--source", "watchlist",
                             "--photo", str(lfw_image(lfw_dir, WATCHED, 1)),
                             "--photo", str(lfw_image(lfw_dir, WATCHED, 2)),
                             "--consent", "form F-1", "--purpose", "access control",
                             "--case", "AC-9", "--json"], env=env)
    assert r.exit_code == 0, r.output
    subject_id = json.loads(r.output)["id"]
    r = runner.invoke(main, [*base, "recognize", str(lfw_image(lfw_dir, WATCHED, 10)),
                             "--purpose", "access control", "--case", "AC-9", "--json"], env=env)
    assert r.exit_code == 0, r.output
    assert "Colin Powell" in [f["label"] for f in json.loads(r.output)["faces"]]
    r = runner.invoke(main, [*base, "recognize", str(lfw_image(lfw_dir, WATCHED, 10))], env=env)
    assert r.exit_code == 2 and "purpose" in r.output
    r = runner.invoke(main, [*base, "watches", "add", str(subject_id), "--webhook", hook.url,
                             "--days", "7", "--purpose", "front desk alerts", "--case", "AC-9",
                             "--json"], env=env)
    assert r.exit_code == 0, r.output
    made = json.loads(r.output)
    assert len(made["webhook_secret"]) == 64
    r = runner.invoke(main, [*base, "watches", "add", str(subject_id), "--webhook",
                             "http://169.254.169.254/latest", "--days", "7", "--purpose", "x",
                             "--case", "y"], env=env)
    assert r.exit_code == 2 and "not one the operator allowed" in r.output
    r = runner.invoke(main, [*base, "watches", "list"], env=env)
    assert r.exit_code == 0 and "Colin Powell" in r.output
    r = runner.invoke(main, [*base, "watches", "withdraw", str(made["watch"]["id"]),
                             "--purpose", "consent withdrawn", "--case", "AC-9"], env=env)
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, [*base, "subjects", "list", "--json"], env=env)
    assert json.loads(r.output)[0]["watches"] == 0
    r = runner.invoke(main, [*base, "alerts", "list"], env=env)
    assert r.exit_code == 0
    r = runner.invoke(main, [*base, "subjects", "delete", str(subject_id), "--purpose", "p",
                             "--case", "c"], env=env)
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, [*base, "subjects", "delete", "abc"], env=env)
    assert r.exit_code == 2 and "positive integer" in r.output
    store.__init__(settings)
