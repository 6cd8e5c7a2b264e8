"""WIDER FACE average precision, as the official evaluation tool computes it.

A line-by-line port of the official evaluation (``eval_tools/wider_eval.m``, and its widely
used Python port ``widerface_evaluate/evaluation.py``):

* scores of all detections over all images are min-max normalised to [0, 1];
* for each subset (easy, medium, hard) an image's ground truth faces outside the subset's
  ``gt_list`` are *ignored*: a detection whose best match (IoU >= 0.5) is an ignored face is
  taken out of the proposals, and that face out of the recall;
* 1000 score thresholds give a precision / recall curve, summed over images; the AP is VOC's
  (area under the monotone precision envelope);
* IoU uses the tool's pixel convention: ``(x2 - x1 + 1) * (y2 - y1 + 1)``.

Detections per image are ``[x, y, w, h, score]`` rows; ground truth ``[x, y, w, h]`` rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceledger.errors import ConfigError

SUBSETS = ("easy", "medium", "hard")
THRESH_NUM = 1000
IOU_THRESH = 0.5


@dataclass(frozen=True)
class WiderImage:
    event: str
    name: str  # file stem, without .jpg
    boxes: np.ndarray  # K x 4 [x, y, w, h]
    keep: dict[str, np.ndarray]  # subset -> 1-based indices of boxes that count

    @property
    def relpath(self) -> str:
        return f"{self.event}/{self.name}.jpg"


def load_ground_truth(gt_dir: Path) -> list[WiderImage]:
    """Read ``wider_face_val.mat`` and the three ``wider_{subset}_val.mat`` files."""
    from scipy.io import loadmat

    gt_dir = Path(gt_dir)
    try:
        full = loadmat(str(gt_dir / "wider_face_val.mat"))
        subsets = {s: loadmat(str(gt_dir / f"wider_{s}_val.mat")) for s in SUBSETS}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{gt_dir}: cannot read WIDER FACE ground truth ({exc})") from exc
    images = []
    events = full["event_list"]
    for i in range(len(events)):
        event = str(events[i][0][0])
        files = full["file_list"][i][0]
        boxes = full["face_bbx_list"][i][0]
        for j in range(len(files)):
            keep = {
                s: np.asarray(subsets[s]["gt_list"][i][0][j][0], dtype=np.int64).ravel()
                for s in SUBSETS
            }
            images.append(
                WiderImage(event, str(files[j][0][0]),
                           np.asarray(boxes[j][0], dtype=np.float64).reshape(-1, 4), keep)
            )
    return images


def bbox_overlaps(boxes: np.ndarray, query: np.ndarray) -> np.ndarray:
    """IoU of every ``boxes`` row against every ``query`` row, both ``[x1, y1, x2, y2]``,
    with the official +1 pixel convention."""
    b = boxes[:, None, :]
    q = query[None, :, :]
    iw = np.minimum(b[..., 2], q[..., 2]) - np.maximum(b[..., 0], q[..., 0]) + 1
    ih = np.minimum(b[..., 3], q[..., 3]) - np.maximum(b[..., 1], q[..., 1]) + 1
    inter = np.where((iw > 0) & (ih > 0), iw * ih, 0.0)
    area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    area_q = (q[..., 2] - q[..., 0] + 1) * (q[..., 3] - q[..., 1] + 1)
    union = area_b + area_q - inter
    return np.where(inter > 0, inter / union, 0.0)


def image_eval(pred: np.ndarray, gt: np.ndarray, ignore: np.ndarray, iou_thresh: float):
    """Per detection (sorted by score, descending): recall so far and whether it is a
    proposal (1) or matched an ignored face (-1)."""
    p = pred[:, :4].astype(np.float64).copy()
    g = gt.astype(np.float64).copy()
    p[:, 2] += p[:, 0]
    p[:, 3] += p[:, 1]
    g[:, 2] += g[:, 0]
    g[:, 3] += g[:, 1]
    overlaps = bbox_overlaps(p, g)
    pred_recall = np.zeros(p.shape[0])
    recall_list = np.zeros(g.shape[0])
    proposal_list = np.ones(p.shape[0])
    for h in range(p.shape[0]):
        max_idx = int(overlaps[h].argmax())
        if overlaps[h, max_idx] >= iou_thresh:
            if ignore[max_idx] == 0:
                recall_list[max_idx] = -1
                proposal_list[h] = -1
            elif recall_list[max_idx] == 0:
                recall_list[max_idx] = 1
        pred_recall[h] = np.count_nonzero(recall_list == 1)
    return pred_recall, proposal_list


def img_pr_info(thresh_num: int, pred: np.ndarray, proposal_list, pred_recall) -> np.ndarray:
    """Proposals and recalled faces at each of ``thresh_num`` thresholds (``pred`` sorted by
    score, descending): vectorised form of the official per-threshold loop."""
    pr = np.zeros((thresh_num, 2))
    scores = pred[:, 4]
    thresh = 1 - (np.arange(thresh_num) + 1) / thresh_num
    # number of detections with score >= thresh: a prefix, since scores are sorted
    count = np.searchsorted(-scores, -thresh, side="right")
    has = count > 0
    r = count[has] - 1
    proposals = np.cumsum(np.asarray(proposal_list) == 1)
    pr[has, 0] = proposals[r]
    pr[has, 1] = np.asarray(pred_recall)[r]
    return pr


def voc_ap(rec: np.ndarray, prec: np.ndarray) -> float:
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = max(mpre[i - 1], mpre[i])
    i = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def normalise_scores(preds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Min-max normalise the score column over every detection of every image."""
    nonempty = [v for v in preds.values() if len(v)]
    if not nonempty:
        return preds
    all_scores = np.concatenate([v[:, 4] for v in nonempty])
    lo, hi = float(all_scores.min()), float(all_scores.max())
    span = hi - lo if hi > lo else 1.0
    out = {}
    for k, v in preds.items():
        v = np.asarray(v, dtype=np.float64).reshape(-1, 5).copy()
        v[:, 4] = (v[:, 4] - lo) / span
        out[k] = v
    return out


def evaluate(
    preds: dict[str, np.ndarray],
    images: list[WiderImage],
    iou_thresh: float = IOU_THRESH,
    thresh_num: int = THRESH_NUM,
) -> dict[str, float]:
    """AP per subset over ``images`` (those are the images scored; ``preds`` is keyed by
    ``WiderImage.relpath``; an image absent from ``preds`` has no detections)."""
    preds = normalise_scores(preds)
    result = {}
    for subset in SUBSETS:
        count_face = 0
        curve = np.zeros((thresh_num, 2))
        for img in images:
            pred = preds.get(img.relpath, np.zeros((0, 5)))
            pred = pred[np.argsort(-pred[:, 4], kind="mergesort")]
            keep = img.keep[subset]
            count_face += len(keep)
            if len(img.boxes) == 0 or len(pred) == 0:
                continue
            ignore = np.zeros(img.boxes.shape[0])
            if len(keep):
                ignore[keep - 1] = 1
            pred_recall, proposal_list = image_eval(pred, img.boxes, ignore, iou_thresh)
            curve += img_pr_info(thresh_num, pred, proposal_list, pred_recall)
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(curve[:, 0] > 0, curve[:, 1] / curve[:, 0], 0.0)
        recall = curve[:, 1] / max(count_face, 1)
        result[subset] = voc_ap(recall, precision)
    return result
