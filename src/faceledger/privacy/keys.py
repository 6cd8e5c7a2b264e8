"""The store's template key: loading it when a store opens, and rotating it.

The catalog records the id of the key its templates are encrypted with
(``store_meta.template_key_id``), so a store opened with the wrong key fails with a clear
message instead of a stream of decryption errors.

Rotation (:func:`rotate_keys`) is crash-safe:

1. the new key is written beside the old one as ``<key file>.new`` (mode 0600);
2. every embedding in the catalog is re-encrypted in one transaction, which also records
   the new key id; the opt-out templates are re-encrypted in theirs;
3. the index file is saved encrypted with the new key, the audit head is resealed;
4. the new key file replaces the old one (an atomic rename) and the old key is gone.

Templates kept in files the library does not own (the subject tokens' reference templates
in ``keys.db``, owned by the HTTP layer) are re-encrypted in step 2 by the
:class:`Reencryptor` objects the caller hands in (``also``): the CLI's ``keys rotate``
passes the key store's tokens. A caller that leaves them out leaves those templates
unreadable once the old key is gone.

If the process dies anywhere before step 4, the next open loads both keys (the ``.new``
file first) and reads blobs of either; running ``keys rotate`` again finishes the job.
After step 4, anything encrypted with the old key that survives somewhere (a backup, a
freed disk block) can no longer be decrypted: rotation after an erasure is also
crypto-shredding.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from ..config import Settings
from ..errors import ConfigError, IntegrityError
from ..parts import (
    HasAudit,
    HasCatalog,
    HasKeys,
    HasLocks,
    HasPrivacyLists,
    HasSettings,
    HasVectors,
)
from .crypto import (
    ENV_KEY,
    TemplateCipher,
    default_key_file,
    is_encrypted,
    load_or_create_key,
    pending_key_file,
    write_key_file,
)

if TYPE_CHECKING:
    from ..store.catalog import Catalog
    from .audit import AuditLog

KEY_META = "template_key_id"
AUDIT_HEAD_LABEL = "audit-head"
KEYS_LOCK = "keys"


@runtime_checkable
class RotationParts(HasSettings, HasKeys, HasCatalog, HasVectors, HasAudit, HasLocks,
                    HasPrivacyLists, Protocol):
    """A key rotation: the settings (the key file), the cipher it replaces (and the store
    id, for the default key file), and every part that keeps something under the key: the
    catalog's templates, the index, the audit head, the opt-out list and the tombstones;
    the rotation lock."""


def store_cipher(
    catalog: Catalog,
    settings: Settings,
    store_id: str,
    audit_path: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> TemplateCipher:
    """The cipher for an opening store. A store without a recorded key id (new, or made
    before templates were encrypted) gets a key now, its plaintext templates encrypted and
    its audit head sealed."""
    env = os.environ if env is None else env
    recorded = catalog.meta(KEY_META)
    key_path = (
        Path(settings.key_file).expanduser() if settings.key_file
        else default_key_file(store_id, env)
    )
    # a key file that is there already has sealed this store's audit log before: the log
    # must verify under it (else deleting the key id from the catalog would let anyone
    # have a recomputed chain sealed afresh)
    key_existed = not env.get(ENV_KEY) and key_path.exists()
    cipher = load_or_create_key(store_id, settings.key_file, create=recorded is None, env=env)
    if recorded is None:
        upgraded = encrypt_plaintext_templates(catalog, cipher)
        if upgraded:
            catalog.scrub(vacuum=True)  # no plaintext page left behind
        if audit_path is not None:
            from .audit import AuditLog

            keys = cipher.derive_all(AUDIT_HEAD_LABEL)
            with AuditLog(audit_location(audit_path, catalog), keys if key_existed else None,
                          anchors=catalog) as log:
                log.reseal(keys)
                log.append(
                    "key_create", "system", purpose="template encryption at rest",
                    inputs={"key_source": "env" if cipher.source.startswith("env:") else "file"},
                    outputs={"key_id": cipher.key_id_hex, "templates_encrypted": upgraded},
                )
        catalog.set_meta(KEY_META, cipher.key_id_hex)
    elif recorded not in cipher.key_ids:
        raise IntegrityError(
            f"this store's templates are encrypted with key {recorded}, but the key loaded "
            f"from {cipher.source} is {cipher.key_id_hex}: wrong key file or {ENV_KEY}?"
        )
    return cipher


def open_audit_log(path: Path, cipher: object, catalog: Catalog) -> AuditLog:
    """The store's audit log: sealed with keys from the template key, anchored in the
    catalog (see :mod:`faceledger.privacy.audit_anchor`)."""
    from .audit import AuditLog

    return AuditLog(audit_location(path, catalog), head_key=audit_head_keys(cipher),
                    anchors=catalog)


def audit_location(path: Path, catalog: Catalog) -> Any:
    """Where the audit log is kept: ``audit.db`` beside a SQLite catalog; in the catalog's
    PostgreSQL database (tables ``audit_*``, connections of its own) for a cluster store."""
    db = getattr(catalog, "db", None)
    if getattr(db, "dialect", "sqlite") == "postgresql":
        from ..store.pg_audit import PgAuditStorage

        return PgAuditStorage(db.url)
    return path


def audit_head_keys(cipher: object) -> tuple[bytes, ...] | None:
    """Secrets for the audit head's HMAC, derived from the template key (none for a
    plain pass-through cipher)."""
    if isinstance(cipher, TemplateCipher):
        return cipher.derive_all(AUDIT_HEAD_LABEL)
    return None


def encrypt_plaintext_templates(catalog: Catalog, cipher: TemplateCipher) -> int:
    """Encrypt embeddings stored as plain float32 (stores from before encryption)."""
    return catalog.rewrite_embeddings(
        lambda blob: None if is_encrypted(blob)
        else cipher.encrypt_vector(np.frombuffer(blob, dtype="<f4")))


class Reencryptor(Protocol):
    """Templates in a file of another layer, re-encrypted during a rotation."""

    rotation_name: str  # what the report and the audit entry call them

    def reencrypt(self, new_cipher: TemplateCipher) -> int:
        """Re-encrypt every template not under ``new_cipher``'s current key (it still reads
        the old one); the number changed. Called again by a rotation that resumes."""
        ...


@dataclass(frozen=True)
class RotationReport:
    old_key_id: str
    new_key_id: str
    faces: int
    optout_templates: int
    key_file: str
    others: dict[str, int] = field(default_factory=dict)  # by Reencryptor.rotation_name


def rotate_keys(
    store: RotationParts,
    new_key_out: Path | None = None,
    actor: str = "cli",
    env: Mapping[str, str] | None = None,
    also: Sequence[Reencryptor] = (),
) -> RotationReport:
    """Re-encrypt every template and the index with a fresh key, then retire the old one.
    ``also``: templates other layers keep under the store key (see the module docstring).

    With a key file (the default) the new key replaces it. With ``FACELEDGER_KEY`` the
    library cannot change the environment: give ``new_key_out`` (a file, written 0600) and
    set ``FACELEDGER_KEY`` to its content before the next start."""
    env = os.environ if env is None else env
    cipher = store.cipher
    if not isinstance(cipher, TemplateCipher):
        raise ConfigError("this store does not encrypt its templates; nothing to rotate")
    from_env = bool(env.get(ENV_KEY))
    if from_env:
        if new_key_out is None:
            raise ConfigError(
                f"the key comes from {ENV_KEY}: give --new-key-out FILE for the new key, then "
                f"set {ENV_KEY} to that file's content"
            )
        key_path = Path(new_key_out)
        pending = key_path
    else:
        key_path = (
            Path(store.settings.key_file).expanduser()
            if store.settings.key_file
            else default_key_file(store.store_id, env)
        )
        pending = pending_key_file(key_path)
    store.audit.require_writable()
    with store.locks.lock(KEYS_LOCK).require("another key rotation") as lock:
        intent = store.audit.begin("key_rotate", actor, purpose="template key rotation",
                                   inputs={"old_key_id": cipher.key_id_hex}, lock=lock.name)
        old_id, final, faces, optout, others = _rotate(store, cipher, from_env, key_path,
                                                       pending, also)
        store.audit.complete(
            intent, "key_rotate", actor, purpose="template key rotation",
            inputs={"old_key_id": old_id},
            outputs={"new_key_id": final.key_id_hex, "faces": faces, "optout_templates": optout,
                     **others},
        )
    return RotationReport(old_id, final.key_id_hex, faces, optout, str(key_path), others)


def _rotate(
    store: RotationParts, cipher: TemplateCipher, from_env: bool, key_path: Path, pending: Path,
    also: Sequence[Reencryptor],
) -> tuple[str, TemplateCipher, int, int, dict[str, int]]:
    old_id = cipher.key_id_hex
    if not from_env and pending.exists() and cipher.old_keys:
        # an interrupted rotation: the loaded cipher already encrypts with the pending key
        new = cipher
        old_id = TemplateCipher.from_key_bytes(cipher.old_keys[0]).key_id_hex
    else:
        new = cipher.rotated()
        write_key_file(pending, new.key)  # refuses to overwrite an existing file

    faces = _reencrypt_catalog(store, new)
    optout = store.optout.reencrypt(new) if store.optout is not None else 0
    others = {"subject_templates": _reencrypt_subjects(store, new),
              **{part.rotation_name: part.reencrypt(new) for part in also}}
    store.tombstones.rewrap(new)
    store.cipher = new
    store.index_file.reencrypt(new)
    if store.optout is not None:
        store.optout.cipher = new
    store.audit.reseal(new.derive_all(AUDIT_HEAD_LABEL))

    if not from_env:
        os.replace(pending, key_path)
    final = TemplateCipher.from_key_bytes(new.key, source=str(key_path))
    store.cipher = final
    store.index_file.cipher = final
    if store.optout is not None:
        store.optout.cipher = final
    store.tombstones.rewrap(final)
    store.audit.reseal(final.derive_all(AUDIT_HEAD_LABEL))
    store.catalog.scrub()
    return old_id, final, faces, optout, others


def _reencrypt_catalog(store: RotationParts, new: TemplateCipher) -> int:
    return store.catalog.rewrite_embeddings(
        lambda blob: None if new.is_current(blob)
        else new.encrypt_vector(new.decrypt_vector(blob)),
        meta={KEY_META: new.key_id_hex})


def _reencrypt_subjects(store: RotationParts, new: TemplateCipher) -> int:
    """Named subjects' and watches' templates and webhook secrets (catalog tables)."""
    from ..store.subjects import SubjectTables

    return SubjectTables(store.catalog).rewrite_sealed(
        lambda blob, aad: None if new.is_current(blob)
        else new.encrypt_blob(new.decrypt_blob(blob, aad), aad))
