"""From a similarity to a decision, using the thresholds a pack was calibrated with."""

from __future__ import annotations

from dataclasses import dataclass

from ..models.registry import PackSpec
from ..types import Decision

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


def operating_point(pack: PackSpec, far: float) -> OperatingPoint:
    match = pack.threshold(far)
    possible = pack.thresholds.get(POSSIBLE_FAR, match)
    return OperatingPoint(far=far, match_threshold=match, possible_threshold=min(possible, match))
