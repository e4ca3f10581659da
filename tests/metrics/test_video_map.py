"""Tube IoU, video-mAP and greedy tube linking against hand-computed values."""

import numpy as np
import pytest

from hfvid.metrics.detection import ava_frame_map, link_tubes, tube_iou, video_map

A = (0.0, 0.0, 0.5, 0.5)
B = (0.5, 0.5, 1.0, 1.0)
A_SHIFTED = (0.05, 0.0, 0.55, 0.5)  # IoU with A = 0.225 / 0.275


def tube(video, action, first, last, box, score=None):
    frames = np.arange(first, last + 1)
    t = {"video_id": video, "action_id": action, "frames": frames, "boxes": np.tile(box, (len(frames), 1))}
    return t if score is None else {**t, "score": score}


def test_tube_iou_hand_values():
    gt = tube("v", 1, 1, 10, A)
    assert tube_iou(gt["frames"], gt["boxes"], gt["frames"], gt["boxes"]) == pytest.approx(1.0)
    late = tube("v", 1, 6, 15, A)  # temporal IoU 5 / 15, spatial 1
    assert tube_iou(gt["frames"], gt["boxes"], late["frames"], late["boxes"]) == pytest.approx(1 / 3)
    shifted = tube("v", 1, 1, 10, A_SHIFTED)
    assert tube_iou(gt["frames"], gt["boxes"], shifted["frames"], shifted["boxes"]) == pytest.approx(0.225 / 0.275)
    # half the intersection frames overlap perfectly, half not at all: temporal 1, spatial mean 0.5
    mixed = np.array([A] * 5 + [B] * 5)
    assert tube_iou(gt["frames"], gt["boxes"], gt["frames"], mixed) == pytest.approx(0.5)
    # a sparse detection (frames 1 and 10 only) is interpolated onto the dense ground-truth frames
    assert tube_iou(gt["frames"], gt["boxes"], [1, 10], [A, A]) == pytest.approx(1.0)
    assert tube_iou(gt["frames"], gt["boxes"], [11, 12], [A, A]) == 0.0
    with pytest.raises(ValueError, match="strictly increasing"):
        tube_iou([1, 1], [A, A], [1], [A])


def test_video_map_hand_values():
    gt = [tube("v1", 1, 1, 10, A), tube("v2", 1, 1, 10, B), tube("v1", 2, 1, 10, B)]
    det = [tube("v1", 1, 1, 10, A, 0.9),  # TP
           tube("v1", 1, 1, 10, A_SHIFTED, 0.8),  # duplicate of a matched tube: FP
           tube("v2", 1, 7, 10, B, 0.7)]  # temporal IoU 4 / 10 = 0.4: TP at 0.2, FP at 0.5
    loose = video_map(gt, det, iou_threshold=0.2)
    assert loose["per_class_ap"][1] == pytest.approx(5 / 6)  # TP FP TP of 2 GT: .5 * 1 + .5 * 2/3
    assert loose["per_class_ap"][2] == 0.0 and loose["mAP"] == pytest.approx(5 / 12)
    strict = video_map(gt, det, iou_threshold=0.5)
    assert strict["per_class_ap"][1] == pytest.approx(0.5)  # TP FP FP: recall stops at .5
    assert strict["num_groundtruth"] == {1: 2, 2: 1}
    # a tube of the right place but the wrong class is no match
    assert video_map(gt[:1], [tube("v1", 2, 1, 10, A, 0.9)])["mAP"] == 0.0


def frame_rows(video, action, frames, box, score, step=0.0):
    return [{"video_id": video, "timestamp": f, "action_id": action, "score": score,
             "box": (box[0] + step * i, box[1], box[2] + step * i, box[3])} for i, f in enumerate(frames)]


def test_link_tubes_two_actors_and_gaps():
    rows = (frame_rows("v", 1, range(1, 6), A, 0.9, step=0.02)  # actor moving right
            + frame_rows("v", 1, range(1, 6), B, 0.6)
            + frame_rows("v", 2, range(1, 6), A, 0.5))  # another class: never linked with class 1
    tubes = link_tubes(rows, link_iou=0.5)
    assert sorted((t["action_id"], len(t["frames"]), round(t["score"], 3)) for t in tubes) == [
        (1, 5, 0.6), (1, 5, 0.9), (2, 5, 0.5)]
    moving = max(tubes, key=lambda t: t["score"])
    assert moving["boxes"][-1][0] == pytest.approx(0.08)
    # a hole of 2 frames splits a tube at max_gap=1 but not at max_gap=3
    sparse = frame_rows("v", 1, [1, 2, 5, 6], A, 0.9)
    assert sorted(len(t["frames"]) for t in link_tubes(sparse, max_gap=1)) == [2, 2]
    assert [len(t["frames"]) for t in link_tubes(sparse, max_gap=3)] == [4]
    assert link_tubes(sparse, max_gap=1, min_length=3) == []


def test_linked_perfect_detections_give_video_and_frame_map_one():
    gt_tubes = [tube("v1", 1, 3, 8, A), tube("v1", 1, 3, 8, B), tube("v2", 2, 1, 4, B)]
    rows = []
    for t in gt_tubes:
        rows += frame_rows(t["video_id"], t["action_id"], t["frames"].tolist(), t["boxes"][0], 0.8)
    linked = link_tubes(rows)
    assert video_map(gt_tubes, linked, 0.5)["mAP"] == pytest.approx(1.0)
    truth = [{k: r[k] for k in ("video_id", "timestamp", "action_id", "box")} for r in rows]
    assert ava_frame_map(truth, rows, max_detections_per_keyframe=None)["mAP"] == pytest.approx(1.0)
