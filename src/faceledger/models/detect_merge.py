"""Merging the detections of several detector passes over one photo.

Each pass ran at its own scale of the photo, so the same face was seen at different pixel
sizes, and a face's landmarks are most exact where the network saw it at a size it handles
well. Detections of all passes are grouped by non-maximum suppression (the highest score
leads, detections overlapping it by more than the IoU threshold join its group); each group
gives one face with

* the **score** of its leader (the highest of the group), and
* the **box and landmarks** of the member seen at the best size: inside ``good`` pixels on
  its short side at its pass (for the reference pass, inside ``anchor_good``), else the one
  nearest that range on a log scale; ties go to the reference pass, then to the score.

So a coarse or a fine pass never moves a face that the reference (1x) pass saw at a good
size, while a face too large or too small for the reference pass takes its landmarks from
the pass that saw it well.

Two kinds of overlapping detection are dropped with a group without giving it their box:

* a member whose short side is smaller than the leader's by more than :data:`SAME_SIZE` is
  a part of the face, not the face seen at another scale: on a face larger than its range,
  YuNet's reference pass also fires on a part of it (a box ~0.6-0.7 of the face's width,
  inside it, scoring 0.55-0.7), which the reference pass's trusted range would otherwise
  prefer to the coarse pass's right box (a larger member may give its box: on WIDER dev,
  refusing those too cost 0.2 easy AP);
* a lower-scored detection lying for at least :data:`CONTAINED` of its area inside the
  leader's box, even below the IoU threshold: a second box on the same head (e.g. two boxes,
  IoU 0.28, on the ear and hair of a person hidden behind the subject).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..types import DetectedFace

#: short side, in pixels at the pass, where YuNet's boxes and landmarks are most reliable
GOOD_FACE = (40.0, 160.0)
#: the reference pass is trusted further: up to ~320 px its landmarks match finer passes'
ANCHOR_GOOD_FACE = (40.0, 320.0)
#: group members whose short side is this factor smaller than the leader's give no box
SAME_SIZE = 1.25
#: a lower-scored detection with this share of its area inside the leader's box is dropped
CONTAINED = 0.6


@dataclass(frozen=True)
class Candidate:
    """A detection in photo coordinates, with the scale of the pass that found it."""

    face: DetectedFace
    scale: float  # pass pixels per photo pixel
    anchor: bool = False  # found by the reference pass

    @property
    def pass_size(self) -> float:
        """The face's short side in pixels of the pass that found it."""
        return min(self.face.box.width, self.face.box.height) * self.scale


def size_penalty(size: float, good: tuple[float, float]) -> float:
    """0 inside ``good``; outside, the distance to it as a log ratio."""
    lo, hi = good
    if size <= 0:
        return math.inf
    if size < lo:
        return math.log(lo / size)
    if size > hi:
        return math.log(size / hi)
    return 0.0


def _rank(c: Candidate, good: tuple[float, float], anchor_good: tuple[float, float]):
    penalty = size_penalty(c.pass_size, anchor_good if c.anchor else good)
    return (penalty, not c.anchor, -c.face.score)


def merge_candidates(
    candidates: Sequence[Candidate],
    iou_threshold: float,
    good: tuple[float, float] = GOOD_FACE,
    anchor_good: tuple[float, float] = ANCHOR_GOOD_FACE,
    same_size: float = SAME_SIZE,
    contained: float = CONTAINED,
) -> list[DetectedFace]:
    """One face per group of overlapping detections; result sorted by area, largest first."""
    if not candidates:
        return []
    boxes = np.array([[c.face.box.x, c.face.box.y, c.face.box.x + c.face.box.width,
                       c.face.box.y + c.face.box.height] for c in candidates], dtype=np.float64)
    scores = np.array([c.face.score for c in candidates])
    sides = np.maximum(np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]), 1e-9)
    areas = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    order = np.argsort(-scores, kind="mergesort")
    out: list[DetectedFace] = []
    while order.size:
        lead, rest = order[0], order[1:]
        iw = np.minimum(boxes[lead, 2], boxes[rest, 2]) - np.maximum(boxes[lead, 0],
                                                                     boxes[rest, 0])
        ih = np.minimum(boxes[lead, 3], boxes[rest, 3]) - np.maximum(boxes[lead, 1],
                                                                     boxes[rest, 1])
        inter = np.maximum(iw, 0) * np.maximum(ih, 0)
        iou = inter / np.maximum(areas[lead] + areas[rest] - inter, 1e-9)
        overlapping = iou > iou_threshold
        ratio = sides[rest] / sides[lead]
        same = overlapping & (ratio >= 1.0 / same_size)
        inside = inter / np.maximum(areas[rest], 1e-9) >= contained
        group = [candidates[lead]] + [candidates[i] for i in rest[same]]
        best = min(group, key=lambda c: _rank(c, good, anchor_good))
        leader = candidates[lead].face
        out.append(DetectedFace(best.face.box, best.face.landmarks, leader.score))
        order = rest[~(overlapping | inside)]
    out.sort(key=lambda f: f.box.area, reverse=True)
    return out
