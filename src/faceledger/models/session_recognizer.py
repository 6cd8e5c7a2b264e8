"""A recognizer on an :class:`~.session.InferenceSession`: aligned BGR 0-255 NCHW crops in,
one vector per crop out (Intel OMZ face-reidentification-retail-0095, MobileFaceNet IR).

* With ``flip=True`` a face and its mirror image go through the network in one call (batch 2)
  instead of two calls.
* Crops of many photos are embedded ``faces_per_call`` faces (default ``batch // 2``) per
  call; how a call of a given size is served (static or dynamic batch) is the session's
  business (see :mod:`.openvino_session`).
"""

from __future__ import annotations

import numpy as np

from ..types import DetectedFace
from .align import align_face
from .base import Recognizer, l2_normalise
from .session import InferenceSession, load_session


class SessionRecognizer(Recognizer):
    concurrent = True  # sessions run calls from several threads at once

    def __init__(
        self,
        session: InferenceSession,
        reference: np.ndarray,
        input_size: int,
        embedding_size: int,
        batch: int = 16,
    ) -> None:
        super().__init__()
        self.session = session
        self.reference = reference
        self.input_size = input_size
        self.embedding_size = embedding_size
        self.batch = batch
        self._input = self._output = ""

    def _load(self) -> None:
        load_session(self.session)
        self._input = self.session.input_names[0]
        self._output = self.session.output_names[0]

    def align(self, bgr: np.ndarray, face: DetectedFace) -> np.ndarray:
        size = (self.input_size, self.input_size)
        return align_face(bgr, face.landmarks.as_array(), self.reference, size)

    def embed_crops(self, crops: list[np.ndarray], flip: bool = False,
                    faces_per_call: int | None = None) -> np.ndarray:
        """As :meth:`Recognizer.embed_crops`, with each face and its mirror image in one
        batch."""
        self.load()
        if not crops:
            return np.zeros((0, self.embedding_size), dtype=np.float32)
        if not flip:
            return l2_normalise(self._embed(crops))
        vectors = []
        per_call = max(1, faces_per_call or self.batch // 2)
        for start in range(0, len(crops), per_call):
            chunk = crops[start : start + per_call]
            both = self._infer(chunk + [c[:, ::-1] for c in chunk])
            vectors.append(both[: len(chunk)] + both[len(chunk) :])
        return l2_normalise(np.concatenate(vectors, axis=0))

    def _embed(self, crops: list[np.ndarray]) -> np.ndarray:
        outputs = [
            self._infer(crops[start : start + self.batch])
            for start in range(0, len(crops), self.batch)
        ]
        return np.concatenate(outputs, axis=0)

    def _infer(self, crops: list[np.ndarray]) -> np.ndarray:
        """One network call on HxWx3 uint8 BGR crops; returns len(crops) x embedding_size."""
        tensor = np.ascontiguousarray(np.stack(crops).transpose(0, 3, 1, 2), dtype=np.float32)
        first = self.session.run({self._input: tensor})[self._output]
        return np.asarray(first, dtype=np.float32).reshape(len(crops), -1)
