"""Action-detection and multi-label video metrics: AVA frame-mAP@0.5 and Charades mAP.

``ava_frame_map`` follows the official ActivityNet ``get_ava_performance.py`` (which wraps the TF Object Detection
PASCAL evaluator): class whitelist (the 60 evaluated AVA classes), at most 50 highest-scoring ``(box, label,
score)`` detections per keyframe, excluded keyframes dropped, and per class: detections of a keyframe are matched
in descending score order to the ground-truth box of highest IoU; a match with IoU >= 0.5 to a box not matched
before is a true positive, everything else (including duplicates, and detections on keyframes without ground
truth) is a false positive. AP is the PASCAL VOC all-point interpolated area; mAP averages classes that have
ground truth. IoU is ``torchvision.ops.box_iou`` (no +1 pixel convention), on normalised coordinates.

``charades_map`` is the Charades classification mAP: per class, the non-interpolated AP (mean precision at the rank
of each positive) over videos ranked by score; classes without positives are skipped (PySlowFast convention).
"""

import heapq
from collections import defaultdict

import numpy as np
import torch
from torchvision.ops import box_iou

AVA_MAX_DETECTIONS_PER_KEYFRAME = 50


def voc_average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
    """PASCAL VOC all-point AP: precision made non-increasing from the right, summed over recall steps."""
    if precision.size == 0:
        return 0.0
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.concatenate([[0.0], precision, [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.where(recall[1:] != recall[:-1])[0] + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


def _key(row) -> tuple[str, int]:
    return row["video_id"], int(row["timestamp"])


def ava_frame_map(
    groundtruth: list[dict],
    detections: list[dict],
    class_whitelist=None,
    excluded_keys=None,
    iou_threshold: float = 0.5,
    max_detections_per_keyframe: int | None = AVA_MAX_DETECTIONS_PER_KEYFRAME,
) -> dict:
    """Frame-level mAP of AVA results.

    Args:
        groundtruth: rows ``{video_id, timestamp, box (x1, y1, x2, y2), action_id}`` (e.g. ``read_ava_csv``).
        detections: rows as above plus ``score``.
        class_whitelist: action ids scored (default: every id in the ground truth). Pass
            ``AVA_EVAL_ACTION_IDS`` for the official 60-class protocol.
        excluded_keys: ``{(video_id, timestamp)}`` keyframes to ignore.
        max_detections_per_keyframe: keep the highest-scoring rows per keyframe (official: 50; None = all).

    Returns:
        ``{"mAP": float, "per_class_ap": {action_id: AP}, "num_groundtruth": {action_id: n}}``; classes without
        ground truth are absent and do not enter the mean (NaN mAP if no class has any).
    """
    excluded = set(excluded_keys or ())
    whitelist = set(class_whitelist) if class_whitelist is not None else {r["action_id"] for r in groundtruth}

    gt_boxes = defaultdict(lambda: defaultdict(list))  # key -> class -> boxes
    for row in groundtruth:
        if row["action_id"] in whitelist and _key(row) not in excluded:
            gt_boxes[_key(row)][row["action_id"]].append(row["box"])

    per_key = defaultdict(list)  # official read_csv: a min-heap of capacity 50 per keyframe
    for order, row in enumerate(detections):
        if row["action_id"] not in whitelist or _key(row) in excluded:
            continue
        entry = (float(row["score"]), -order, row)
        heap = per_key[_key(row)]
        if max_detections_per_keyframe is None or len(heap) < max_detections_per_keyframe:
            heapq.heappush(heap, entry)
        elif entry[:2] > heap[0][:2]:
            heapq.heapreplace(heap, entry)

    scores, labels = defaultdict(list), defaultdict(list)  # class -> per-detection score / TP flag
    for key, heap in per_key.items():
        by_class = defaultdict(list)
        for score, _, row in heap:
            by_class[row["action_id"]].append((score, row["box"]))
        for action, found in by_class.items():
            found.sort(key=lambda item: -item[0])
            truth = gt_boxes.get(key, {}).get(action, [])
            tp = np.zeros(len(found), bool)
            if truth:
                iou = box_iou(torch.tensor([b for _, b in found], dtype=torch.float64),
                              torch.tensor(truth, dtype=torch.float64))
                best_iou, best_gt = iou.max(dim=1)
                matched = np.zeros(len(truth), bool)
                for i in range(len(found)):
                    gt = int(best_gt[i])
                    if best_iou[i] >= iou_threshold and not matched[gt]:
                        tp[i] = matched[gt] = True
            scores[action].extend(s for s, _ in found)
            labels[action].extend(tp.tolist())

    num_gt = defaultdict(int)
    for classes in gt_boxes.values():
        for action, boxes in classes.items():
            num_gt[action] += len(boxes)
    per_class = {}
    for action in sorted(num_gt):
        order = np.argsort(-np.asarray(scores[action], np.float64), kind="stable")
        tp = np.asarray(labels[action], bool)[order]
        true_positives = np.cumsum(tp)
        precision = true_positives / np.arange(1, len(tp) + 1) if len(tp) else np.zeros(0)
        recall = true_positives / num_gt[action] if len(tp) else np.zeros(0)
        per_class[action] = voc_average_precision(precision, recall)
    mean = float(np.mean(list(per_class.values()))) if per_class else float("nan")
    return {"mAP": mean, "per_class_ap": per_class, "num_groundtruth": dict(num_gt)}


def charades_map(scores, labels) -> dict:
    """Charades mAP of ``scores`` (V, C) against multi-hot ``labels`` (V, C).

    Returns ``{"mAP": float, "per_class_ap": (C,) array}`` (NaN for classes without positives, which the mean skips).
    """
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels) > 0.5
    if scores.ndim != 2 or scores.shape != labels.shape:
        raise ValueError(f"scores and labels must both have shape (videos, classes), got {scores.shape} and "
                         f"{labels.shape}")
    per_class = np.full(scores.shape[1], np.nan)
    for c in range(scores.shape[1]):
        positives = labels[:, c].sum()
        if positives == 0:
            continue
        hits = labels[np.argsort(-scores[:, c], kind="stable"), c]
        precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
        per_class[c] = precision[hits].sum() / positives
    valid = ~np.isnan(per_class)
    return {"mAP": float(per_class[valid].mean()) if valid.any() else float("nan"), "per_class_ap": per_class}


__all__ = ["AVA_MAX_DETECTIONS_PER_KEYFRAME", "ava_frame_map", "charades_map", "voc_average_precision"]
