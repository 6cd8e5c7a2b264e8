"""The rights-request register: a request's life on time and late, with the time injected
(a clock the test moves), every change audited, Art. 12(3) deadlines enforced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from faceledger import Settings, init_store
from faceledger.errors import InvalidRequestError, NotFoundError, RightsRequestError
from faceledger.privacy.erasure import erase
from faceledger.privacy.receipts import Receipt, verify_receipt
from faceledger.privacy.requests import IdentityRecord, RightsRequests, add_months


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += timedelta(**kw)


@pytest.fixture()
def store(tmp_path):
    st = init_store(Settings(data_dir=tmp_path / "data", key_file=tmp_path / "k" / "t.key"))
    yield st
    st.close()


ID = IdentityRecord("dpo-anna", "passport seen at the front desk", "a" * 64)


def test_add_months_clamps_to_the_end_of_a_shorter_month():
    assert add_months(datetime(2026, 1, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2026, 11, 30, tzinfo=UTC), 3) == datetime(2027, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2028, 1, 31, tzinfo=UTC), 1) == datetime(2028, 2, 29, tzinfo=UTC)


def test_a_request_answered_on_time(store):
    clock = Clock(datetime(2026, 3, 10, 9, 0, tzinfo=UTC))
    reg = RightsRequests.of(store, clock)
    before = store.audit.head()[0]
    row = reg.open("access", "Jane Roe", "email", "admin-1")
    assert (row.state, row.received_at, row.due_at) == (
        "received", "2026-03-10T09:00:00+00:00", "2026-04-10T09:00:00+00:00")
    with pytest.raises(RightsRequestError, match="verify the person's identity first"):
        reg.close(row.id, "admin-1", done=True)
    clock.advance(days=2)
    reg.record_identity(row.id, ID, "admin-1")
    assert reg.get(row.id).state == "identity_verified"
    assert reg.get(row.id).reference_sha256 == "a" * 64
    clock.advance(days=10)
    closed = reg.close(row.id, "admin-1", done=True, reason="copy sent by post")
    v = reg.view(row.id)
    assert (closed.state, closed.outcome, v.late, v.overdue, v.response_days) == (
        "done", "copy sent by post", False, False, 12.0)
    with pytest.raises(RightsRequestError, match="closed"):
        reg.close(row.id, "admin-1", done=False, reason="again")
    entries = store.audit.entries(before)
    actions = [e.action for e in entries]
    for change in ("open", "identity", "close"):
        assert f"rights_request_{change}_intent" in actions
        assert f"rights_request_{change}" in actions
    assert all(e.case == row.id for e in entries)
    assert not any("Jane Roe" in e.to_json() for e in entries)  # no name in the log
    assert store.audit.verify().ok and not store.audit.verify().open_intents


def test_a_late_request_is_overdue_then_late(store):
    clock = Clock(datetime(2026, 1, 31, 12, 0, tzinfo=UTC))
    reg = RightsRequests.of(store, clock)
    row = reg.open("objection", "REQ-88", "letter", "admin-1", identity=ID)
    assert row.due_at == "2026-02-28T12:00:00+00:00"
    clock.advance(days=28)  # 28 Feb, 12:00: due, not yet over
    assert not reg.view(row.id).overdue and reg.overdue() == []
    clock.advance(minutes=1)
    assert reg.view(row.id).overdue
    assert [v.request.id for v in reg.overdue()] == [row.id]
    with pytest.raises(RightsRequestError, match="within the first month"):
        reg.extend(row.id, "complex request", "admin-1")
    clock.advance(days=5)
    reg.close(row.id, "admin-1", done=False, reason="not an objection to our processing")
    v = reg.view(row.id)
    assert (v.request.state, v.late, v.overdue) == ("refused", True, False)
    assert v.response_days == pytest.approx(33.0, abs=0.01)
    late = [e for e in store.audit.entries() if e.action == "rights_request_close_intent"]
    assert late[-1].inputs["late"] is True


def test_one_extension_by_two_months_with_a_reason(store):
    clock = Clock(datetime(2026, 5, 1, tzinfo=UTC))
    reg = RightsRequests.of(store, clock)
    row = reg.open("access", "REQ-9", "web form", "admin-1", identity=ID)
    with pytest.raises(InvalidRequestError, match="reason"):
        reg.extend(row.id, "  ", "admin-1")
    clock.advance(days=20)
    ext = reg.extend(row.id, "hundreds of photos across 4 sources", "admin-1")
    assert (ext.due_at, ext.extended_due_at) == ("2026-06-01T00:00:00+00:00",
                                                 "2026-08-01T00:00:00+00:00")
    with pytest.raises(RightsRequestError, match="one extension"):
        reg.extend(row.id, "more", "admin-1")
    clock.advance(days=40)  # past the first month, inside the extension
    assert not reg.view(row.id).overdue
    clock.advance(days=45)  # 15 Aug
    assert reg.view(row.id).overdue


def test_bad_input_is_refused_with_a_clear_error(store):
    clock = Clock(datetime(2026, 5, 1, tzinfo=UTC))
    reg = RightsRequests.of(store, clock)
    with pytest.raises(InvalidRequestError, match="kind"):
        reg.open("delete-everything", "x", "email", "a")
    with pytest.raises(InvalidRequestError, match="future"):
        reg.open("access", "x", "email", "a", received_at="2026-06-01")
    with pytest.raises(InvalidRequestError, match="channel"):
        reg.open("access", "x", "", "a")
    for bad in ("../../etc", "RR-1' OR 1=1 --", "RR-20260101-zzzzzzzz"):
        with pytest.raises(NotFoundError):
            reg.get(bad)
    with pytest.raises(InvalidRequestError, match="SHA-256"):
        reg.open("access", "x", "email", "a", identity=IdentityRecord("a", "b", "photo.jpg"))
    row = reg.open("access", "x", "email", "a", received_at="2026-04-02")  # typed in late
    assert row.due_at == "2026-05-02T00:00:00+00:00"


def test_an_erasure_request_gets_a_receipt_that_verifies(store):
    clock = Clock(datetime.now(UTC))
    reg = RightsRequests.of(store, clock)
    row = reg.open("erasure", "REQ-5", "email", "admin-1", identity=ID)
    with pytest.raises(RightsRequestError, match="erase audit entry"):
        reg.close(row.id, "admin-1", done=True)
    report = erase(store, face_ids=[], inputs={"request_id": row.id})
    closed = reg.close(row.id, "admin-1", done=True, erase_seq=report.audit_seq)
    receipt = Receipt.from_json(closed.receipt)
    assert receipt.payload["request_id"] == row.id
    assert receipt.payload["audit_entry"]["seq"] == report.audit_seq
    check = verify_receipt(store, receipt)
    assert check.ok, check.reason
    forged = Receipt({**receipt.payload, "faces_erased": 7}, receipt.signature)
    assert "signature" in verify_receipt(store, forged).reason


def test_a_receipt_survives_key_rotation(store):
    from faceledger.privacy.keys import rotate_keys

    reg = RightsRequests.of(store)
    row = reg.open("erasure", "REQ-6", "email", "admin-1", identity=ID)
    report = erase(store, face_ids=[])
    receipt = Receipt.from_json(reg.close(row.id, "admin-1", True,
                                          erase_seq=report.audit_seq).receipt)
    old_key = receipt.payload["signing_key"]["public_key"]
    rotate_keys(store)
    assert verify_receipt(store, receipt).ok  # its key is in the chain for good
    row2 = reg.open("erasure", "REQ-7", "email", "admin-1", identity=ID)
    seq = erase(store, face_ids=[]).audit_seq
    new = Receipt.from_json(reg.close(row2.id, "admin-1", True, erase_seq=seq).receipt)
    assert new.payload["signing_key"]["public_key"] != old_key  # a new key, published too
    assert verify_receipt(store, new).ok and verify_receipt(store, receipt).ok


def test_a_receipt_signed_with_an_unpublished_key_fails(store):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from faceledger.privacy.audit_chain import canonical_json
    from faceledger.privacy.receipts import _public_hex

    reg = RightsRequests.of(store)
    row = reg.open("erasure", "REQ-8", "email", "admin-1", identity=ID)
    seq = erase(store, face_ids=[]).audit_seq
    good = Receipt.from_json(reg.close(row.id, "admin-1", True, erase_seq=seq).receipt)
    forger = Ed25519PrivateKey.generate()
    payload = {**good.payload, "faces_erased": 12,
               "signing_key": {**good.payload["signing_key"],
                               "public_key": _public_hex(forger.public_key())}}
    forged = Receipt(payload, forger.sign(canonical_json(payload).encode()).hex())
    result = verify_receipt(store, forged)
    assert not result.ok and "never published" in result.reason
