"""Value types that flow through the engine. Frozen dataclasses, never positional tuples."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np


@dataclass(frozen=True)
class Box:
    """Axis-aligned face box in pixels of the (orientation-corrected) photo."""

    x: float
    y: float
    width: float
    height: float

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    def as_list(self) -> list[float]:
        return [round(self.x, 1), round(self.y, 1), round(self.width, 1), round(self.height, 1)]


@dataclass(frozen=True)
class Landmarks:
    """Five points, in image order: left eye, right eye, nose tip, left mouth corner,
    right mouth corner ("left" meaning the smaller x in the picture)."""

    points: tuple[tuple[float, float], ...]

    def as_array(self) -> np.ndarray:
        return np.asarray(self.points, dtype=np.float32).reshape(5, 2)

    def as_list(self) -> list[list[float]]:
        return [[round(x, 2), round(y, 2)] for x, y in self.points]


@dataclass(frozen=True)
class DetectedFace:
    box: Box
    landmarks: Landmarks
    score: float


@dataclass(frozen=True)
class FaceEmbedding:
    """A detected face with its L2-normalised embedding, a quality estimate in [0, 1]
    (:mod:`faceledger.models.quality`), its estimated head pose in degrees and the
    sharpness factor of its aligned crop."""

    face: DetectedFace
    embedding: np.ndarray = field(repr=False)
    quality: float
    yaw: float = 0.0
    pitch: float = 0.0
    sharpness: float = 1.0


class Decision(str, Enum):
    MATCH = "match"
    POSSIBLE = "possible"
    NO_MATCH = "no match"


@dataclass(frozen=True)
class SourceInfo:
    name: str
    kind: str
    location: str
    controller: str
    lawful_basis: str
    purpose: str
    retention_days: int
    special_category_condition: str = ""
    minors_policy: str = ""
    root: str = ""  # a URL list's declared root directory: every photo it names is inside it
    # a URL list's declared web hosts ("https://host[:port]" or "http://host:port"): the only
    # servers its http(s) URLs are fetched from
    hosts: tuple[str, ...] = ()
    endpoint: str = ""  # an S3 source's endpoint URL ("" for AWS's own)
    profile: str = ""  # an S3 source's credentials profile name (never the credentials)


@dataclass(frozen=True)
class Match:
    rank: int
    face_id: int
    similarity: float
    decision: Decision
    photo_id: int
    photo_uri: str
    source: str
    box: Box
    quality: float | None = None  # the gallery face's quality (None: not known)
    yaw: float | None = None  # the gallery face's estimated pose, degrees
    pitch: float | None = None


@dataclass(frozen=True)
class ProbeResult:
    """The matches for one face found in a probe photo. A probe face of poor quality is
    ``uncertain``: its matches were decided at stricter thresholds and ``warning`` says why
    (:mod:`faceledger.search.probe_quality`)."""

    probe_face: DetectedFace
    matches: list[Match]
    quality: float | None = None
    yaw: float | None = None
    pitch: float | None = None
    uncertain: bool = False
    warning: str = ""


@dataclass(frozen=True)
class Verification:
    similarity: float
    same_person: bool
    threshold: float
    far: float
    face_a: DetectedFace
    face_b: DetectedFace
    scorer: str = ""  # the pack, or the fusion of two packs (accurate mode)
    # each pack's own cosine when the similarity is a fused score
    components: dict[str, float] = field(default_factory=dict)

@dataclass(frozen=True)
class ActionContext:
    """Who does something, why, and under which case reference (recorded in the audit log)."""

    actor: str = "cli"
    purpose: str | None = None
    case: str | None = None
