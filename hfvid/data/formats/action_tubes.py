"""Spatio-temporal action tubes (UCF101-24, JHMDB-21) -> the records BMViT trains and evaluates on.

A video annotation is ``{video_id, num_frames, height, width, tubes: [{action_id (1-based), frames (n,) 1-based frame
indices, boxes (n, 4) pixel x1, y1, x2, y2}]}`` (0-based continuous pixel coordinates, ``x2 = x1 + width``). From it:

- :func:`tubes_to_keyframes`: one record per annotated frame, the structure of ``ava.group_keyframes``
  (``{video_id, timestamp, boxes (P, 4) normalised, labels (P, C) multi-hot, person_ids}``) with ``timestamp`` = the
  1-based frame index and ``person_ids`` the tube index, so the AVA clip/eval code consumes it unchanged;
- :func:`tubes_to_groundtruth`: normalised tubes ``{video_id, action_id, frames, boxes}`` for
  ``hfvid.metrics.detection.video_map`` and per-frame rows for ``ava_frame_map``.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np


def _scale(video: dict) -> np.ndarray:
    return np.array([video["width"], video["height"], video["width"], video["height"]], np.float32)


def tubes_to_keyframes(videos: list[dict], num_classes: int, frame_step: int = 1) -> list[dict]:
    """Per-frame records of every ``frame_step``-th annotated frame (1, 1 + step, ...) of every video."""
    if frame_step < 1:
        raise ValueError(f"frame_step must be >= 1, got {frame_step}")
    records = []
    for video in videos:
        per_frame = defaultdict(list)  # frame -> [(tube index, action, box)]
        for index, tube in enumerate(video["tubes"]):
            if not 1 <= tube["action_id"] <= num_classes:
                raise ValueError(f"{video['video_id']}: action_id {tube['action_id']} is outside 1..{num_classes}")
            for frame, box in zip(np.asarray(tube["frames"]).tolist(), np.asarray(tube["boxes"])):
                per_frame[int(frame)].append((index, tube["action_id"], box))
        for frame in sorted(per_frame):
            if (frame - 1) % frame_step:
                continue
            people = per_frame[frame]
            labels = np.zeros((len(people), num_classes), np.float32)
            labels[np.arange(len(people)), [action - 1 for _, action, _ in people]] = 1.0
            boxes = np.clip(np.array([box for _, _, box in people], np.float32) / _scale(video), 0.0, 1.0)
            records.append({"video_id": video["video_id"], "timestamp": frame, "boxes": boxes, "labels": labels,
                            "person_ids": np.array([index for index, _, _ in people], np.int64)})
    return records


def tubes_to_groundtruth(videos: list[dict]) -> tuple[list[dict], list[dict]]:
    """``(tubes, frame_rows)``: normalised ground-truth tubes for ``video_map`` and per-frame rows
    ``{video_id, timestamp (frame), box, action_id}`` for ``ava_frame_map``."""
    tubes, rows = [], []
    for video in videos:
        for tube in video["tubes"]:
            boxes = np.clip(np.asarray(tube["boxes"], np.float64) / _scale(video), 0.0, 1.0)
            frames = np.asarray(tube["frames"], np.int64)
            tubes.append({"video_id": video["video_id"], "action_id": tube["action_id"], "frames": frames,
                          "boxes": boxes})
            rows += [{"video_id": video["video_id"], "timestamp": int(f), "box": tuple(b),
                      "action_id": tube["action_id"]} for f, b in zip(frames.tolist(), boxes.tolist())]
    return tubes, rows


__all__ = ["tubes_to_groundtruth", "tubes_to_keyframes"]
