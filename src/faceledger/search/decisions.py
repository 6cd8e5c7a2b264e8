"""From a similarity to a decision, using the thresholds a pack was calibrated with.

Only the false-accept rates a pack was calibrated at are operating points: any other rate
is refused with :class:`~faceledger.errors.UncalibratedFarError` (never rounded to a
neighbouring point, so that ``far=0.999`` cannot quietly mean 1e-2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from ..errors import UncalibratedFarError
from ..types import Decision


class Calibrated(Protocol):
    """A pack, or a fusion of two packs: a name and thresholds keyed by false-accept rate."""

    name: str
    thresholds: dict[float, float]

POSSIBLE_FAR = 1e-2  # "possible" = worth a human look; "match" = the chosen operating point


@dataclass(frozen=True)
class OperatingPoint:
    far: float
    match_threshold: float
    possible_threshold: float

    def decide(self, similarity: float) -> Decision:
        if similarity >= self.match_threshold:
            return Decision.MATCH
        if similarity >= self.possible_threshold:
            return Decision.POSSIBLE
        return Decision.NO_MATCH


def calibrated_far(pack: Calibrated, far: float) -> float:
    """``far`` as one of the pack's calibrated rates (``1e-4`` given as ``0.0001`` or
    ``1.0e-4`` is the same point); :class:`UncalibratedFarError` for any other value."""
    allowed = tuple(sorted(pack.thresholds))
    try:
        value = float(far)
    except (TypeError, ValueError):
        value = math.nan
    for known in allowed:
        if math.isfinite(value) and math.isclose(value, known, rel_tol=1e-9, abs_tol=0.0):
            return known
    shown = ", ".join(f"{f:g}" for f in allowed) or "none"
    raise UncalibratedFarError(
        f"FAR {far!r} is not a calibrated operating point of pack {pack.name}; "
        f"choose one of: {shown}",
        allowed=allowed,
    )


def operating_point(pack: Calibrated, far: float) -> OperatingPoint:
    far = calibrated_far(pack, far)
    match = pack.thresholds[far]
    possible = pack.thresholds.get(POSSIBLE_FAR, match)
    return OperatingPoint(far=far, match_threshold=match, possible_threshold=min(possible, match))
