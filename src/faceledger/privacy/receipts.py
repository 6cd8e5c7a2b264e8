"""Erasure receipts: signed proof, for the person and the regulator, that an erasure happened.

A receipt names the request, when it was received and closed, when the erasure ran, how
many faces and photos it erased and from which sources, and the ``erase`` audit entry
(seq and hash). It holds no template, no photo, no URI and no name.

Why Ed25519, and where the key comes from
-----------------------------------------
A receipt is checked later by people who do not hold the store's secrets: the person, a
regulator, a court. So it is signed with **Ed25519**, and carries its public key; anyone
can check the signature with no secret at all (:func:`check_signature`). An HMAC would
need the store key to verify, i.e. trust in the controller who issued it.

The private key is not stored anywhere: it is derived (HKDF) from the store's template key
under its own label, so it is as safe as that key and never sits in the data dir. Its
public key is **published in the audit log** (a ``receipt_key_publish`` entry) before the
first receipt it signs, and each receipt names that entry. Key rotation derives a new
signing key from the new template key, which gets its own entry; receipts signed before
stay verifiable, because their public key is in the hash-chained log for good. A forged
receipt signed with any other key fails: its key was never published in this store's log.

:func:`verify_receipt` checks a receipt against the store: the signature, the whole audit
chain (``audit verify``, anchors included), the erase entry's hash and counts, the key's
publication, that the register closed this request with that entry, and that none of the
erased faces and photos is held again (ids are never reused).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import ConfigError, FaceLedgerError, NotFoundError, ReceiptError
from ..parts import HasAudit, HasCatalog, HasKeys
from .audit_chain import canonical_json, sha256_hex
from .crypto import TemplateCipher

if TYPE_CHECKING:
    from ..store.requests_table import RequestRow

FORMAT = "faceledger-erasure-receipt/1"
SIGNING_LABEL = "erasure-receipt-ed25519"
PUBLISH_ACTION = "receipt_key_publish"
KEYS_META = "receipt_keys"  # catalog meta: {public key hex: audit seq of its publication}
MAX_RECEIPT_BYTES = 64 * 1024


@runtime_checkable
class ReceiptParts(HasCatalog, HasAudit, HasKeys, Protocol):
    """Signing and checking receipts: the requests table in the catalog, the audit log (a
    receipt names an entry), and the store key (the signing key is derived from it)."""


@dataclass(frozen=True)
class Receipt:
    payload: dict[str, Any]
    signature: str  # hex

    def to_json(self) -> str:
        return json.dumps({"receipt": self.payload,
                           "signature": {"alg": "Ed25519", "value": self.signature}},
                          indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Receipt:
        if len(text) > MAX_RECEIPT_BYTES:
            raise ReceiptError(f"a receipt is under {MAX_RECEIPT_BYTES} bytes; this is not one")
        try:
            doc = json.loads(text)
            payload, sig = doc["receipt"], doc["signature"]
            if not isinstance(payload, dict) or sig.get("alg") != "Ed25519":
                raise ValueError("not an Ed25519 receipt")
            return cls(payload, str(sig["value"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ReceiptError(f"this is not a faceledger erasure receipt ({exc})") from None


def _public_hex(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


class ReceiptSigner:
    """Signs receipts with the Ed25519 key derived from the store's current template key,
    publishing its public key in the audit log the first time."""

    def __init__(self, store: ReceiptParts) -> None:
        self.store = store

    @classmethod
    def of(cls, store: ReceiptParts) -> ReceiptSigner:
        return cls(store)

    def _private(self) -> Ed25519PrivateKey:
        cipher = self.store.cipher
        if not isinstance(cipher, TemplateCipher):
            raise ConfigError("receipts are signed with a key derived from the store key, "
                              "and this store has none")
        return Ed25519PrivateKey.from_private_bytes(cipher.derive(SIGNING_LABEL))

    def published_seq(self, public_hex: str) -> int:
        """The audit entry that published this key (published now if it never was)."""
        catalog, audit = self.store.catalog, self.store.audit
        known = json.loads(catalog.meta(KEYS_META) or "{}")
        seq = known.get(public_hex)
        if seq is not None:
            entry = audit.entry(int(seq))
            if entry and entry.action == PUBLISH_ACTION and \
                    entry.outputs.get("public_key") == public_hex:
                return int(seq)
        entry = audit.append(PUBLISH_ACTION, "system", purpose="erasure receipts",
                             outputs={"public_key": public_hex, "alg": "Ed25519",
                                      "key_fingerprint": sha256_hex(bytes.fromhex(public_hex))[:16],
                                      "template_key_id": self.store.cipher.key_id_hex})
        known[public_hex] = entry.seq
        catalog.set_meta(KEYS_META, json.dumps(known, sort_keys=True))
        return entry.seq

    def issue(self, request: RequestRow) -> Receipt:
        """The receipt of a closed erasure or opt-out request (``request.erase_seq``)."""
        if request.erase_seq is None:
            raise ReceiptError(f"request {request.id} names no erase entry")
        entry = self.store.audit.entry(int(request.erase_seq))
        if entry is None or entry.action != "erase":
            raise ReceiptError(f"audit entry {request.erase_seq} is not an erasure")
        private = self._private()
        public_hex = _public_hex(private.public_key())
        key_seq = self.published_seq(public_hex)
        payload = {
            "format": FORMAT,
            "store_id": self.store.store_id,
            "request_id": request.id,
            "request_kind": request.kind,
            "received_at": request.received_at,
            "completed_at": request.completed_at,
            "erased_at": entry.at,
            "faces_erased": len(entry.outputs.get("faces", [])),
            "photos_erased": len(entry.outputs.get("photos", [])),
            "sources": entry.outputs.get("sources", []),
            "audit_entry": {"seq": entry.seq, "hash": entry.hash},
            "signing_key": {"alg": "Ed25519", "public_key": public_hex,
                            "published_in_seq": key_seq},
        }
        signature = private.sign(canonical_json(payload).encode("utf-8")).hex()
        return Receipt(payload, signature)


def check_signature(receipt: Receipt) -> None:
    """Check the signature with the key the receipt names (no secret needed)."""
    try:
        key = Ed25519PublicKey.from_public_bytes(
            bytes.fromhex(receipt.payload["signing_key"]["public_key"]))
        key.verify(bytes.fromhex(receipt.signature),
                   canonical_json(receipt.payload).encode("utf-8"))
    except (InvalidSignature, ValueError, KeyError, TypeError):
        raise ReceiptError("the receipt's signature does not verify: it was altered or "
                           "not signed by the key it names") from None


@dataclass(frozen=True)
class ReceiptCheck:
    ok: bool
    request_id: str
    reason: str = ""
    checks: list[str] = field(default_factory=list)  # what passed, in order


def verify_receipt(store: ReceiptParts, receipt: Receipt) -> ReceiptCheck:
    """Check a receipt against the store (see the module docstring); the first failure
    is the reason."""
    p = receipt.payload
    done: list[str] = []
    rid = str(p.get("request_id", ""))

    def fail(reason: str) -> ReceiptCheck:
        return ReceiptCheck(False, rid, reason, done)

    if p.get("format") != FORMAT:
        return fail(f"unknown receipt format {p.get('format')!r}")
    try:
        check_signature(receipt)
    except ReceiptError as exc:
        return fail(exc.message)
    done.append("signature verifies with the key the receipt names")
    if p.get("store_id") != store.store_id:
        return fail("the receipt is from another store")
    result = store.audit.verify()
    if not result.ok:
        return fail(f"the store's audit log does not verify: {result.reason}")
    done.append(f"audit log intact ({result.entries} entries, head {result.head_seq})")
    try:
        seq, digest = int(p["audit_entry"]["seq"]), str(p["audit_entry"]["hash"])
        key_seq = int(p["signing_key"]["published_in_seq"])
        public_hex = str(p["signing_key"]["public_key"])
    except (KeyError, TypeError, ValueError):
        return fail("the receipt does not name its audit entry and key")
    key_entry = store.audit.entry(key_seq)
    if (key_entry is None or key_entry.action != PUBLISH_ACTION
            or key_entry.outputs.get("public_key") != public_hex):
        return fail("the receipt's signing key was never published in this store's audit log")
    done.append(f"signing key published in audit entry {key_seq}")
    entry = store.audit.entry(seq)
    if entry is None or entry.hash != digest:
        return fail(f"audit entry {seq} is not the one the receipt names")
    if entry.action != "erase":
        return fail(f"audit entry {seq} is not an erasure")
    faces, photos = entry.outputs.get("faces", []), entry.outputs.get("photos", [])
    if (len(faces), len(photos)) != (p.get("faces_erased"), p.get("photos_erased")) or \
            entry.outputs.get("sources", []) != p.get("sources"):
        return fail(f"audit entry {seq} records other counts or sources than the receipt")
    done.append(f"erasure recorded in audit entry {seq} at {entry.at}")
    from ..store.requests_table import RequestsTable

    try:
        row = RequestsTable(store.catalog).get(str(rid))
    except FaceLedgerError:
        return fail(f"the register holds no request {rid!r}")
    if row.state != "done" or row.erase_seq != seq:
        return fail(f"the register does not record request {rid} as done by entry {seq}")
    done.append(f"register: request {rid} done by entry {seq}")
    held = store.catalog.faces([int(i) for i in faces])
    if held:
        return fail(f"erased faces are held again: {sorted(held)[:10]}")
    back = [i for i in photos if _held_photo(store, int(i))]
    if back:
        return fail(f"erased photos are held again: {back[:10]}")
    done.append("none of the erased faces or photos is held")
    return ReceiptCheck(True, rid, "", done)


def _held_photo(store: ReceiptParts, photo_id: int) -> bool:
    try:
        store.catalog.photo(photo_id)
    except NotFoundError:
        return False
    return True
