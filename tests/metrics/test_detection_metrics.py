"""AVA frame-mAP@0.5 and Charades mAP against hand-computed values."""

import numpy as np
import pytest

from hfvid.metrics.detection import ava_frame_map, charades_map, voc_average_precision

A = (0.0, 0.0, 0.5, 0.5)
B = (0.5, 0.5, 1.0, 1.0)
A_SHIFTED = (0.05, 0.0, 0.55, 0.5)  # IoU with A = 0.225 / 0.275 = 0.818
A_FAR = (0.3, 0.0, 0.8, 0.5)  # IoU with A = 0.05 / 0.45 < 0.5


def row(video, t, box, action, score=None):
    r = {"video_id": video, "timestamp": t, "box": box, "action_id": action}
    return r if score is None else {**r, "score": score}


def test_voc_ap_hand_values():
    # TP, FP, TP with 2 ground truths: precision 1, 1/2, 2/3; recall .5, .5, 1 -> AP = .5 * 1 + .5 * 2/3
    assert voc_average_precision(np.array([1, 0.5, 2 / 3]), np.array([0.5, 0.5, 1.0])) == pytest.approx(5 / 6)


def test_ava_frame_map_matching_rules():
    gt = [row("v", 902, A, 1), row("v", 903, B, 1), row("v", 902, B, 2)]
    det = [
        row("v", 902, A_SHIFTED, 1, 0.9),  # TP
        row("v", 902, A, 1, 0.8),  # duplicate of a matched GT -> FP
        row("v", 903, B, 1, 0.7),  # TP
        row("v", 904, B, 1, 0.95),  # keyframe without ground truth -> FP
        row("v", 902, A_FAR, 2, 0.6),  # IoU < 0.5 with B -> FP (class 2 has AP 0)
    ]
    result = ava_frame_map(gt, det)
    # class 1 ranked: FP(.95), TP(.9), FP(.8), TP(.7): precision .0 .5 .333 .5; recall 0 .5 .5 1 -> AP .5*.5+.5*.5
    assert result["per_class_ap"][1] == pytest.approx(0.5)
    assert result["per_class_ap"][2] == 0.0
    assert result["mAP"] == pytest.approx(0.25)
    # excluding keyframe 904 removes the FP; whitelisting class 1 only drops class 2
    only = ava_frame_map(gt, det, class_whitelist=[1], excluded_keys={("v", 904)})
    # TP(.9), FP(.8), TP(.7): AP = .5 * 1 + .5 * 2/3
    assert only["per_class_ap"] == {1: pytest.approx(5 / 6)} and only["mAP"] == pytest.approx(5 / 6)


def test_ava_keeps_the_50_best_detections_per_keyframe():
    gt = [row("v", 902, A, 1)]
    noise = [row("v", 902, B, 2 + i % 5, 0.5 + i / 1000) for i in range(50)]
    hit = row("v", 902, A, 1, 0.1)  # 51st by score: dropped under the official cap
    assert ava_frame_map(gt, [*noise, hit], class_whitelist=range(1, 7))["per_class_ap"][1] == 0.0
    assert ava_frame_map(gt, [*noise, hit], class_whitelist=range(1, 7),
                         max_detections_per_keyframe=None)["per_class_ap"][1] == 1.0


def test_charades_map_hand_values():
    scores = np.array([[0.9, 0.1, 0.3], [0.8, 0.7, 0.2], [0.1, 0.6, 0.1]])
    labels = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0]])
    result = charades_map(scores, labels)
    # class 0: ranks 1 (pos), 2 (neg), 3 (pos): (1 + 2/3) / 2; class 1: ranks 1 (pos), 2 (pos): 1; class 2 skipped
    assert result["per_class_ap"][0] == pytest.approx(5 / 6) and result["per_class_ap"][1] == 1.0
    assert np.isnan(result["per_class_ap"][2]) and result["mAP"] == pytest.approx((5 / 6 + 1) / 2)
    with pytest.raises(ValueError, match="shape"):
        charades_map(scores, labels[:2])
