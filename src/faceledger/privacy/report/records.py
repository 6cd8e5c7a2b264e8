"""Records of processing activities (GDPR Art. 30(1)), one activity per source, from the
store's own facts: what was registered with `source add`, what the catalog holds, who can
see results (API keys by role), how it is protected, and transfers (none unless set)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from ...store.report_queries import per_source_counts
from ..crypto import TemplateCipher
from ..sources import ART9_CONDITIONS, LAWFUL_BASES, MINORS_POLICIES
from .parts import ReportParts

CATEGORIES = [
    "photographs of the people who appear in the source (kept where the source keeps them; "
    "faceledger stores their location, SHA-256, size and dimensions)",
    "face geometry: box, five landmarks, detector score, quality",
    "face templates (biometric data, GDPR Art. 9(1)), encrypted at rest",
]
DATA_SUBJECTS = "people who appear in the source's photos"
ROLE_RECEIVES = {
    "investigator": "search and verification results: crops, photos, sources, similarities",
    "auditor": "the audit log: face ids and similarities, never a photo or a template",
    "admin": "API keys, subject tokens, sources, the rights-request register",
    "operator": "ingest runs and their counts",
}


@dataclass(frozen=True)
class KeyFact:
    """An API key as the report sees it (no secret)."""

    id: str
    name: str
    role: str
    revoked: bool


def recipients(keys: list[KeyFact]) -> list[dict[str, Any]]:
    active = Counter(k.role for k in keys if not k.revoked)
    return [{"role": role, "active_keys": active.get(role, 0),
             "key_names": sorted(k.name for k in keys if k.role == role and not k.revoked),
             "receives": receives}
            for role, receives in ROLE_RECEIVES.items()]


def safeguards(store: ReportParts) -> dict[str, Any]:
    cipher = store.cipher
    verification = store.audit.verify()
    return {
        "template_encryption": ("AES-256-GCM, key outside the data dir, key id "
                                f"{cipher.key_id_hex}") if isinstance(cipher, TemplateCipher)
        else "none (this store has no template key)",
        "audit_log": ("append-only, SHA-256 hash-chained, head sealed with an HMAC from the "
                      "store key and anchored in the catalog; signed exports"),
        "audit_log_intact": verification.ok,
        "audit_entries": verification.entries,
        "erasure": ("physical: rows overwritten (SQLite secure_delete), WAL truncated, "
                    "index rewritten; keyed-hash tombstones stop re-ingest"),
        "purpose_and_case_required": bool(store.settings.require_purpose),
        "undeclared_purposes_refused": bool(store.settings.refuse_undeclared_purpose),
        "access_control": "API keys by role, stored hashed; web sessions server-side with CSRF",
        "subject_requests": "one-time tokens bound to the person by a 1:1 check",
    }


def records_of_processing(store: ReportParts, keys: list[KeyFact]) -> dict[str, Any]:
    counts = per_source_counts(store.catalog)
    transfers = store.settings.transfers.strip()
    activities = []
    for s in store.sources():
        held = counts.get(s.name, {"photos": 0, "photo_errors": 0, "faces": 0})
        activities.append({
            "source": s.name,
            "controller": s.controller,
            "purpose": s.purpose,
            "lawful_basis": s.lawful_basis,
            "lawful_basis_text": LAWFUL_BASES.get(s.lawful_basis, s.lawful_basis),
            "art9_condition": s.special_category_condition,
            "art9_condition_text": ART9_CONDITIONS.get(s.special_category_condition,
                                                       s.special_category_condition),
            "data_subjects": DATA_SUBJECTS,
            "minors_policy": s.minors_policy,
            "minors_policy_text": MINORS_POLICIES.get(s.minors_policy, s.minors_policy),
            "categories_of_data": CATEGORIES,
            "retention_days": s.retention_days,
            "kind": s.kind,
            "held": held,
        })
    return {
        "format": "faceledger-records-of-processing/1",
        "article": "GDPR Art. 30(1)",
        "store_id": store.store_id,
        "model_pack": store.pack.name,
        "activities": activities,
        "recipients": recipients(keys),
        "safeguards": safeguards(store),
        "transfers": transfers or "none",
    }
