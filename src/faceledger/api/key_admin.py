"""Creating and revoking API keys, each audited as an intent before the change in
``keys.db`` and a completion after (:func:`faceledger.privacy.audited.audited_change`), so
a process killed in between leaves an intent that ``audit verify`` reports. The CLI
(``faceledger apikeys``), the admin routes and ``serve --demo`` all go through here."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..parts import HasAudit, HasLocks
from ..privacy.audited import audited_change
from .keys import ApiKey, IssuedSecret, KeyStore, Role
from .keys_db import KEYS_LOCK


@runtime_checkable
class KeyAdminParts(HasAudit, HasLocks, Protocol):
    """Key changes are audited and take the key store's named lock (store.locks)."""


def create_key(store: KeyAdminParts, keys: KeyStore, name: str, role: Role | str,
               actor: str) -> IssuedSecret:
    """A new key; the audit log names it (id, name, role), never its secret."""
    role = Role(role)
    key_id = keys.new_id()
    with audited_change(store.audit, store.locks, "api_key_create", actor,
                        inputs={"name": name, "role": role.value, "key_id": key_id},
                        lock=KEYS_LOCK, what="API key change") as done:
        issued = keys.create(name, role, key_id=key_id)
        done.outputs = {"key_id": issued.key.id}
    return issued


def revoke_key(store: KeyAdminParts, keys: KeyStore, key_id: str, actor: str) -> ApiKey:
    """Revoke a key (its web sessions end too)."""
    with audited_change(store.audit, store.locks, "api_key_revoke", actor,
                        inputs={"key_id": key_id}, lock=KEYS_LOCK,
                        what="API key change") as done:
        key = keys.revoke(key_id)
        done.outputs = {"name": key.name, "role": key.role.value}
    return key
