"""How embeddings and index files are written at rest.

The store talks to a cipher with four calls; the one it uses, AES-256-GCM under the store's
template key, lives in ``faceledger.privacy.crypto``.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Cipher(Protocol):
    def encrypt_vector(self, vector: np.ndarray) -> bytes: ...
    def decrypt_vector(self, blob: bytes) -> np.ndarray: ...
    def encrypt_blob(self, data: bytes) -> bytes: ...
    def decrypt_blob(self, data: bytes) -> bytes: ...
