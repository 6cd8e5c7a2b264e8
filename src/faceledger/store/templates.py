"""How embeddings and index files are written at rest.

The store talks to a cipher with four calls. ``PlainCipher`` stores float32 bytes as they
are; the encrypting one lives in ``faceledger.privacy.crypto``.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Cipher(Protocol):
    def encrypt_vector(self, vector: np.ndarray) -> bytes: ...
    def decrypt_vector(self, blob: bytes) -> np.ndarray: ...
    def encrypt_blob(self, data: bytes) -> bytes: ...
    def decrypt_blob(self, data: bytes) -> bytes: ...


class PlainCipher:
    """No encryption: for tests of other units, and stores created without a key."""

    def encrypt_vector(self, vector: np.ndarray) -> bytes:
        return np.asarray(vector, dtype="<f4").tobytes()

    def decrypt_vector(self, blob: bytes) -> np.ndarray:
        return np.frombuffer(blob, dtype="<f4").astype(np.float32)

    def encrypt_blob(self, data: bytes) -> bytes:
        return data

    def decrypt_blob(self, data: bytes) -> bytes:
        return data
