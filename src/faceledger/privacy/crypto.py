"""Template protection: AES-256-GCM for embeddings and index files at rest.

Blob layout (all encrypted values, vectors and files alike)::

    b"FLE1" | key id (8 bytes) | nonce (12 random bytes) | ciphertext + 16-byte GCM tag

The magic and key id are authenticated as associated data, so a blob cannot be relabelled;
the key id (the first 8 bytes of sha256 of the key) lets rotation tell old blobs from new.
Callers may bind a blob to its context with ``aad`` (e.g. the face id), so a ciphertext
copied onto another row fails to decrypt.

Where the key comes from (:func:`load_or_create_key`): ``FACELEDGER_KEY`` (base64 of 32
bytes) if set, else a key file; by default ``$XDG_CONFIG_HOME/faceledger/keys/<store-id>.key``
(``~/.config/...``), outside the data dir, created with mode 0600.

What this protects against, and what not: a copy of the data dir (a backup, a stolen
disk, a leaked snapshot) without the key reveals no template. It does not protect against
anyone who can read the key, nor against a running process: to search, the engine holds the
decrypted index in memory, and a process dump or a debugger sees plaintext vectors.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import ConfigError, IntegrityError

MAGIC = b"FLE1"
KEY_ID_BYTES = 8
NONCE_BYTES = 12
TAG_BYTES = 16
HEADER_BYTES = len(MAGIC) + KEY_ID_BYTES + NONCE_BYTES
KEY_BYTES = 32
ENV_KEY = "FACELEDGER_KEY"


def key_id_of_key(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:KEY_ID_BYTES]


def _derive(key: bytes, label: str) -> bytes:
    return hmac.new(key, b"faceledger:" + label.encode(), hashlib.sha256).digest()


def is_encrypted(blob: bytes) -> bool:
    return len(blob) >= HEADER_BYTES + TAG_BYTES and bytes(blob[:4]) == MAGIC


def blob_key_id(blob: bytes) -> bytes:
    """The key id a blob was written with (raises IntegrityError if it is not a blob)."""
    if not is_encrypted(blob):
        raise IntegrityError("not an encrypted faceledger blob")
    return bytes(blob[4 : 4 + KEY_ID_BYTES])


@dataclass(frozen=True)
class TemplateCipher:
    """Encrypts with ``key``; decrypts blobs written with ``key`` or any of ``old_keys``
    (kept only while a rotation is being finished)."""

    key: bytes = field(repr=False)
    old_keys: tuple[bytes, ...] = field(default=(), repr=False)
    source: str = ""

    def __post_init__(self) -> None:
        for k in (self.key, *self.old_keys):
            if len(k) != KEY_BYTES:
                raise ConfigError(f"a template key must be {KEY_BYTES} bytes, got {len(k)}")

    @classmethod
    def from_key_bytes(
        cls, key: bytes, old_keys: tuple[bytes, ...] = (), source: str = ""
    ) -> TemplateCipher:
        return cls(bytes(key), tuple(bytes(k) for k in old_keys), source)

    @classmethod
    def generate(cls) -> TemplateCipher:
        return cls(secrets.token_bytes(KEY_BYTES), (), "generated")

    @functools.cached_property
    def key_id(self) -> bytes:
        return key_id_of_key(self.key)

    @property
    def key_id_hex(self) -> str:
        return self.key_id.hex()

    def is_current(self, blob: bytes) -> bool:
        """True when ``blob`` was encrypted with the current key (rotation skips it)."""
        return is_encrypted(blob) and blob_key_id(blob) == self.key_id

    def derive(self, label: str) -> bytes:
        """A separate secret for another use (e.g. the audit head's HMAC)."""
        return _derive(self.key, label)

    def derive_all(self, label: str) -> tuple[bytes, ...]:
        """``derive`` for the current key, then for each old key still loaded."""
        return tuple(_derive(k, label) for k in (self.key, *self.old_keys))

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(key_id_of_key(k).hex() for k in (self.key, *self.old_keys))

    # -- bytes ---------------------------------------------------------------------------

    @functools.cached_property
    def _aeads(self) -> dict[bytes, AESGCM]:
        """One AES-GCM context per loaded key, by key id (made once: a search decrypts a
        shortlist of a thousand templates)."""
        return {key_id_of_key(k): AESGCM(k) for k in (self.key, *self.old_keys)}

    def encrypt_blob(self, data: bytes, aad: bytes = b"") -> bytes:
        header = MAGIC + self.key_id
        nonce = secrets.token_bytes(NONCE_BYTES)
        ct = self._aeads[self.key_id].encrypt(nonce, bytes(data), header + aad)
        return header + nonce + ct

    def decrypt_blob(self, data: bytes, aad: bytes = b"") -> bytes:
        data = bytes(data)
        kid = blob_key_id(data)
        aead = self._aeads.get(kid)
        if aead is None:
            self._key_for(kid)  # raises, naming the key
        nonce = data[4 + KEY_ID_BYTES : HEADER_BYTES]
        try:
            return aead.decrypt(nonce, data[HEADER_BYTES:], data[: 4 + KEY_ID_BYTES] + aad)
        except InvalidTag:
            raise IntegrityError(
                "an encrypted template failed authentication (tampered bytes or wrong context)"
            ) from None

    def _key_for(self, kid: bytes) -> bytes:
        for k in (self.key, *self.old_keys):
            if key_id_of_key(k) == kid:
                return k
        raise IntegrityError(
            f"this blob was encrypted with key {kid.hex()}, which is not loaded "
            f"(current key {self.key_id_hex}); wrong key file or FACELEDGER_KEY?"
        )

    # -- vectors -------------------------------------------------------------------------

    def encrypt_vector(self, vec: np.ndarray, aad: bytes = b"") -> bytes:
        arr = np.ascontiguousarray(np.asarray(vec, dtype="<f4").reshape(-1))
        return self.encrypt_blob(arr.tobytes(), aad)

    def decrypt_vector(self, blob: bytes, aad: bytes = b"") -> np.ndarray:
        raw = self.decrypt_blob(blob, aad)
        if len(raw) % 4:
            raise IntegrityError("a decrypted template is not a whole number of float32s")
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)

    def rotated(self, new_key: bytes | None = None) -> TemplateCipher:
        """A cipher that encrypts with a new key and still reads this one's blobs."""
        new = new_key if new_key is not None else secrets.token_bytes(KEY_BYTES)
        return TemplateCipher(bytes(new), (self.key, *self.old_keys), self.source)


# -- key files ---------------------------------------------------------------------------


def default_keys_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "faceledger" / "keys"


def default_key_file(store_id: str, env: Mapping[str, str] | None = None) -> Path:
    safe = "".join(c for c in store_id if c.isalnum() or c in "-_.") or "default"
    return default_keys_dir(env) / f"{safe}.key"


def decode_key(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{where} is not base64") from None
    if len(key) != KEY_BYTES:
        raise ConfigError(f"{where} must hold {KEY_BYTES} bytes (base64), got {len(key)}")
    return key


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def write_key_file(path: Path, key: bytes, *, overwrite: bool = False) -> None:
    """Write ``key`` (base64) with mode 0600, atomically; the directory gets 0700."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.chmod(path.parent, 0o700)
    except OSError:
        pass
    if path.exists() and not overwrite:
        raise ConfigError(f"key file {path} exists already; refusing to overwrite it")
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(encode_key(key) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_key_file(path: Path) -> bytes:
    path = Path(path)
    try:
        mode = path.stat().st_mode & 0o077
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read key file {path}: {exc.strerror}") from exc
    if mode:
        raise ConfigError(f"key file {path} is readable by group or others; run `chmod 600 {path}`")
    return decode_key(text, f"key file {path}")


def load_or_create_key(
    store_id: str,
    key_file: Path | None = None,
    *,
    create: bool = False,
    env: Mapping[str, str] | None = None,
) -> TemplateCipher:
    """The store's cipher. ``FACELEDGER_KEY`` wins; else ``key_file`` or the default file.

    ``create`` (used by ``init``) writes a new random key when no key exists yet; a store
    that is only being opened never creates one, so a missing key is an error rather than a
    silently new key that cannot read the old templates. A pending rotation file
    (``<key>.new``) is loaded as well, so an interrupted ``keys rotate`` can be finished.
    """
    env = os.environ if env is None else env
    raw = env.get(ENV_KEY)
    if raw:
        return TemplateCipher.from_key_bytes(decode_key(raw, ENV_KEY), source=f"env:{ENV_KEY}")
    path = Path(key_file).expanduser() if key_file else default_key_file(store_id, env)
    pending = pending_key_file(path)
    if path.exists():
        key = read_key_file(path)
        old: tuple[bytes, ...] = ()
        if pending.exists():
            # rotation was interrupted: new key is the pending one, the current file is old
            return TemplateCipher.from_key_bytes(read_key_file(pending), (key,), source=str(path))
        return TemplateCipher.from_key_bytes(key, old, source=str(path))
    if not create:
        raise ConfigError(
            f"no template key: set {ENV_KEY} or provide the key file {path} "
            "(it is created by `faceledger init`)"
        )
    key = secrets.token_bytes(KEY_BYTES)
    write_key_file(path, key)
    return TemplateCipher.from_key_bytes(key, source=str(path))


def pending_key_file(path: Path) -> Path:
    return Path(path).with_name(Path(path).name + ".new")
