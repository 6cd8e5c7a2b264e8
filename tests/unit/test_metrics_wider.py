"""WIDER FACE evaluation (official protocol port) on hand-made images with known APs."""

import numpy as np
import pytest

from faceledger_bench.wider_eval import WiderImage, bbox_overlaps, evaluate, voc_ap


def test_bbox_overlaps_uses_official_pixel_convention():
    a = np.array([[0, 0, 9, 9]], dtype=float)  # 10 x 10 pixels
    b = np.array([[0, 0, 9, 9], [5, 0, 14, 9], [20, 20, 29, 29]], dtype=float)
    iou = bbox_overlaps(a, b)[0]
    assert iou[0] == pytest.approx(1.0)
    assert iou[1] == pytest.approx(50 / 150)
    assert iou[2] == 0.0


def test_voc_ap_of_a_perfect_curve_is_one():
    assert voc_ap(np.array([0.5, 1.0]), np.array([1.0, 1.0])) == pytest.approx(1.0)


def _image():
    boxes = np.array([[10, 10, 20, 20], [100, 100, 20, 20]], dtype=float)
    keep = {"easy": np.array([1]), "medium": np.array([], dtype=int), "hard": np.array([1, 2])}
    return WiderImage("0--Event", "img", boxes, keep)


def test_evaluate_known_aps():
    preds = {
        "0--Event/img.jpg": np.array(
            [
                [10, 10, 20, 20, 0.9],  # face 1
                [300, 300, 20, 20, 0.8],  # false positive
                [101, 101, 20, 20, 0.7],  # face 2 (IoU ~0.82)
            ]
        )
    }
    ap = evaluate(preds, [_image()])
    # hard: both faces count. Normalised scores 1, 0.5, 0: (P, R) = (1, .5) then (.5, .5)
    # then (2/3, 1) -> AP = .5 * 1 + .5 * 2/3
    assert ap["hard"] == pytest.approx(0.5 + 0.5 * 2 / 3)
    # easy: face 2 is ignored, so its detection is no proposal: (1, 1) first -> AP 1
    assert ap["easy"] == pytest.approx(1.0)
    # medium: no face counts -> nothing to recall
    assert ap["medium"] == pytest.approx(0.0)


def test_evaluate_missing_predictions_cost_recall():
    other = WiderImage("0--Event", "other", np.array([[5, 5, 30, 30]], dtype=float),
                       {"easy": np.array([1]), "medium": np.array([1]), "hard": np.array([1])})
    preds = {"0--Event/img.jpg": np.array([[10, 10, 20, 20, 0.9], [100, 100, 20, 20, 0.8]])}
    ap = evaluate(preds, [_image(), other])  # "other" has no detections at all
    assert ap["hard"] == pytest.approx(2 / 3)  # recall tops out at 2 of 3 faces, precision 1


def _official_img_pr_info(thresh_num, pred_info, proposal_list, pred_recall):
    # the official tool's loop, verbatim in spirit
    pr_info = np.zeros((thresh_num, 2)).astype("float")
    for t in range(thresh_num):
        thresh = 1 - (t + 1) / thresh_num
        r_index = np.where(pred_info[:, 4] >= thresh)[0]
        if len(r_index) == 0:
            pr_info[t, 0] = 0
            pr_info[t, 1] = 0
        else:
            r_index = r_index[-1]
            p_index = np.where(proposal_list[: r_index + 1] == 1)[0]
            pr_info[t, 0] = len(p_index)
            pr_info[t, 1] = pred_recall[r_index]
    return pr_info


def test_vectorised_pr_info_matches_the_official_loop():
    from faceledger_bench.wider_eval import img_pr_info

    rng = np.random.default_rng(3)
    for _ in range(5):
        n = int(rng.integers(1, 40))
        scores = np.sort(rng.uniform(0, 1, n))[::-1]
        scores[0] = 1.0
        pred = np.c_[np.zeros((n, 4)), scores]
        proposal = rng.choice([1.0, -1.0], n)
        recall = np.cumsum(rng.integers(0, 2, n)).astype(float)
        np.testing.assert_array_equal(
            img_pr_info(1000, pred, proposal, recall),
            _official_img_pr_info(1000, pred, proposal, recall),
        )
