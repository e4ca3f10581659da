"""Action-detection and multi-label video metrics: AVA frame-mAP@0.5 and Charades mAP.

``ava_frame_map`` follows the official ActivityNet ``get_ava_performance.py`` (which wraps the TF Object Detection
PASCAL evaluator): class whitelist (the 60 evaluated AVA classes), at most 50 highest-scoring ``(box, label,
score)`` detections per keyframe, excluded keyframes dropped, and per class: detections of a keyframe are matched
in descending score order to the ground-truth box of highest IoU; a match with IoU >= 0.5 to a box not matched
before is a true positive, everything else (including duplicates, and detections on keyframes without ground
truth) is a false positive. AP is the PASCAL VOC all-point interpolated area; mAP averages classes that have
ground truth. IoU is ``torchvision.ops.box_iou`` (no +1 pixel convention), on normalised coordinates.

``video_map`` is the video-mAP of UCF101-24/JHMDB-21 (the ACT/Singh et al. evaluators): tubes ``{video_id,
action_id, frames, boxes[, score]}`` per class ranked by score, each matched to the not yet matched ground-truth tube of
its video and class with the highest spatio-temporal IoU (``tube_iou``: temporal IoU of the frame ranges times the
mean per-frame IoU over the temporal intersection); IoU >= threshold (0.2, 0.5 usual) is a true positive. Detector
output is per frame; ``link_tubes`` links it into tubes (our simple linker, not the paper's: BMViT's spec names no
linking; see its docstring). Frame-mAP of those datasets is ``ava_frame_map`` with ``timestamp`` = frame index and
``max_detections_per_keyframe=None`` (no 50-cap in the ACT/YOWO evaluators).

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


def ranked_average_precision(scores, true_positive, num_groundtruth: int) -> float:
    """VOC AP of one class: detections ranked by descending ``scores`` (stable), ``true_positive`` flags, and the
    number of ground-truth instances (recall denominator)."""
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    tp = np.asarray(true_positive, bool).reshape(-1)[order]
    if len(tp) == 0:
        return 0.0
    true_positives = np.cumsum(tp)
    return voc_average_precision(true_positives / np.arange(1, len(tp) + 1), true_positives / num_groundtruth)


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
            ``hfvid.data.formats.ava.AVA_EVAL_ACTION_IDS`` for the official 60-class protocol.
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
    per_class = {action: ranked_average_precision(scores[action], labels[action], num_gt[action])
                 for action in sorted(num_gt)}
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


def _interpolated_boxes(frames: np.ndarray, boxes: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """``boxes`` of a tube at ``frames`` (increasing) evaluated at ``wanted`` frames, linearly between its frames."""
    return np.stack([np.interp(wanted, frames, boxes[:, k]) for k in range(4)], axis=1)


def tube_iou(frames_a, boxes_a, frames_b, boxes_b) -> float:
    """Spatio-temporal IoU of tube ``a`` (the reference, e.g. ground truth) and tube ``b``.

    ``frames`` (n,) increasing frame indices, ``boxes`` (n, 4) xyxy. Temporal IoU of the inclusive ranges
    ``[first, last]`` times the mean spatial IoU over the frames of ``a`` inside the temporal intersection, where
    ``b``'s box is linearly interpolated between its own frames (exact for tubes with a box on every frame, and it
    lets a detector evaluated on every k-th frame be scored against dense ground truth). 0 without overlap.
    """
    frames_a, frames_b = np.asarray(frames_a, np.float64).reshape(-1), np.asarray(frames_b, np.float64).reshape(-1)
    boxes_a, boxes_b = np.asarray(boxes_a, np.float64).reshape(-1, 4), np.asarray(boxes_b, np.float64).reshape(-1, 4)
    for name, frames, boxes in (("a", frames_a, boxes_a), ("b", frames_b, boxes_b)):
        if len(frames) == 0 or len(frames) != len(boxes) or np.any(np.diff(frames) <= 0):
            raise ValueError(f"tube {name} needs one box per frame and strictly increasing frames, got "
                             f"{len(frames)} frames and {len(boxes)} boxes")
    start, end = max(frames_a[0], frames_b[0]), min(frames_a[-1], frames_b[-1])
    if end < start:
        return 0.0
    temporal = (end - start + 1) / (max(frames_a[-1], frames_b[-1]) - min(frames_a[0], frames_b[0]) + 1)
    inside = (frames_a >= start) & (frames_a <= end)
    if not inside.any():
        return 0.0
    other = _interpolated_boxes(frames_b, boxes_b, frames_a[inside])
    spatial = box_iou(torch.from_numpy(boxes_a[inside]), torch.from_numpy(other)).diagonal()
    return float(temporal * spatial.mean())


def video_map(groundtruth_tubes: list[dict], detection_tubes: list[dict], iou_threshold: float = 0.5) -> dict:
    """Video-mAP: per class, detection tubes in descending ``score`` order; a tube is a true positive when its
    best not yet matched ground-truth tube of the same video and class has ``tube_iou >= iou_threshold``.

    Tubes are dicts ``{video_id, action_id, frames (n,), boxes (n, 4)}`` (detections also ``score``). Returns
    ``{"mAP", "per_class_ap", "num_groundtruth"}``; classes without ground truth are left out of the mean.
    """
    truth = defaultdict(list)  # (video, class) -> tubes
    num_gt = defaultdict(int)
    for tube in groundtruth_tubes:
        truth[(tube["video_id"], tube["action_id"])].append(tube)
        num_gt[tube["action_id"]] += 1
    matched = {key: np.zeros(len(tubes), bool) for key, tubes in truth.items()}
    scores, labels = defaultdict(list), defaultdict(list)
    for tube in sorted(detection_tubes, key=lambda t: -float(t["score"])):
        key = (tube["video_id"], tube["action_id"])
        best, best_iou = -1, -1.0
        for index, gt in enumerate(truth.get(key, ())):
            if not matched[key][index]:
                iou = tube_iou(gt["frames"], gt["boxes"], tube["frames"], tube["boxes"])
                if iou > best_iou:
                    best, best_iou = index, iou
        hit = best >= 0 and best_iou >= iou_threshold
        if hit:
            matched[key][best] = True
        scores[tube["action_id"]].append(float(tube["score"]))
        labels[tube["action_id"]].append(hit)
    per_class = {action: ranked_average_precision(scores[action], labels[action], num_gt[action])
                 for action in sorted(num_gt)}
    mean = float(np.mean(list(per_class.values()))) if per_class else float("nan")
    return {"mAP": mean, "per_class_ap": per_class, "num_groundtruth": dict(num_gt)}


def link_tubes(detections: list[dict], link_iou: float = 0.3, max_gap: int = 1, min_length: int = 1,
               top_k_per_frame: int | None = 10) -> list[dict]:
    """Link per-frame detections into tubes, greedily by score (hfvid's simple linker; the paper's is not known).

    ``detections`` are frame-mAP rows ``{video_id, timestamp (= frame index), box, action_id, score}``. Per video
    and class, frames are visited in order and only the ``top_k_per_frame`` highest-scoring boxes kept. Open tubes,
    highest mean score first, each take the highest-scoring unclaimed box of the frame whose IoU with the tube's last
    box is >= ``link_iou``; unclaimed boxes start new tubes. A tube closes when ``max_gap`` frames pass without an
    extension (set it to the evaluation frame step when only every k-th frame is scored). Tubes of fewer than
    ``min_length`` boxes are dropped. Returns tubes ``{video_id, action_id, frames, boxes, score}`` (score = mean of
    its boxes' scores), the input of :func:`video_map`.
    """
    if max_gap < 1 or min_length < 1:
        raise ValueError(f"max_gap and min_length must be >= 1, got {max_gap} and {min_length}")
    grouped = defaultdict(lambda: defaultdict(list))  # (video, class) -> frame -> [(score, box)]
    for row in detections:
        grouped[(row["video_id"], row["action_id"])][int(row["timestamp"])].append((float(row["score"]), row["box"]))
    tubes = []
    for (video_id, action), frames in sorted(grouped.items()):
        open_tubes, closed = [], []
        for frame in sorted(frames):
            found = sorted(frames[frame], key=lambda item: -item[0])[:top_k_per_frame]
            still_open = []
            for tube in open_tubes:
                (closed if frame - tube["frames"][-1] > max_gap else still_open).append(tube)
            open_tubes = sorted(still_open, key=lambda t: -np.mean(t["scores"]))
            claimed = np.zeros(len(found), bool)
            if open_tubes and found:
                iou = box_iou(torch.tensor([t["boxes"][-1] for t in open_tubes], dtype=torch.float64),
                              torch.tensor([box for _, box in found], dtype=torch.float64)).numpy()
                for i, tube in enumerate(open_tubes):
                    candidates = np.nonzero((iou[i] >= link_iou) & ~claimed)[0]
                    if len(candidates):  # found is sorted by score: the first candidate scores highest
                        j = candidates[0]
                        claimed[j] = True
                        tube["frames"].append(frame)
                        tube["boxes"].append(found[j][1])
                        tube["scores"].append(found[j][0])
            open_tubes += [{"frames": [frame], "boxes": [box], "scores": [score]}
                           for (score, box), taken in zip(found, claimed) if not taken]
        for tube in closed + open_tubes:
            if len(tube["frames"]) >= min_length:
                tubes.append({"video_id": video_id, "action_id": action, "frames": np.asarray(tube["frames"]),
                              "boxes": np.asarray(tube["boxes"], np.float64), "score": float(np.mean(tube["scores"]))})
    return tubes


__all__ = [
    "AVA_MAX_DETECTIONS_PER_KEYFRAME",
    "ava_frame_map",
    "charades_map",
    "link_tubes",
    "ranked_average_precision",
    "tube_iou",
    "video_map",
    "voc_average_precision",
]
