"""Which extra detector passes a photo gets, decided from its size and the reference pass.

The reference pass runs at the photo's size (long side capped). Two kinds of extra pass:

* a **coarse pass** for faces too large for the network (YuNet's landmarks degrade past
  ~300 px and it misses faces filling the frame): the reference image brought to a long
  side of ``coarse_side`` (256) pixels and padded, so that even a face filling the frame is
  seen whole at a size the network handles.
* **fine tiles** for faces under the network's ~10 px floor, only "where the photo has room"
  for them: the reference pass, read at a low score, proposes small faces; a grid cell
  holding a proposal is run again upscaled. Small faces come in crowds, so the few cells with
  proposals hold most of them: on the WIDER FACE dev subset ~15 % of the area recovers nearly
  all that a full 2x pass adds (see docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..types import DetectedFace


@dataclass(frozen=True)
class Region:
    """A rectangle of the reference image, in its pixels (x1, y1 exclusive)."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def area(self) -> int:
        return max(self.x1 - self.x0, 0) * max(self.y1 - self.y0, 0)


def coarse_factor(long_side: int, coarse_side: int = 256) -> float | None:
    """Factor (relative to the reference image) of the coarse pass, which brings the long
    side to ``coarse_side``; None when the reference image is not at least 1.5 times that
    (its faces then fit the network at the reference size)."""
    if long_side < 1.5 * coarse_side:
        return None
    return coarse_side / long_side


def proposal_regions(
    proposals: Sequence[DetectedFace],
    width: int,
    height: int,
    cell: int = 256,
    max_face: float = 32.0,
    min_score: float = 0.1,
    margin: int = 24,
) -> list[Region]:
    """Regions of the reference image (``width`` x ``height``) to run again upscaled.

    A proposal is a detection of the reference pass with score >= ``min_score`` and short
    side <= ``max_face``; the grid cells holding a proposal's centre are selected, runs of
    selected cells in a row are joined into one region, and each region grows by ``margin``
    pixels (clipped to the image) so faces on its edge are seen whole."""
    cols = max(1, -(-width // cell))
    rows = max(1, -(-height // cell))
    chosen: set[tuple[int, int]] = set()
    for f in proposals:
        b = f.box
        if f.score < min_score or min(b.width, b.height) > max_face:
            continue
        cx = min(max(int((b.x + b.width / 2.0) // cell), 0), cols - 1)
        cy = min(max(int((b.y + b.height / 2.0) // cell), 0), rows - 1)
        chosen.add((cy, cx))
    regions: list[Region] = []
    for r in range(rows):
        c = 0
        while c < cols:
            if (r, c) not in chosen:
                c += 1
                continue
            start = c
            while c < cols and (r, c) in chosen:
                c += 1
            regions.append(Region(
                max(0, start * cell - margin), max(0, r * cell - margin),
                min(width, c * cell + margin), min(height, (r + 1) * cell + margin),
            ))
    return regions
