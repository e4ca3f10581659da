"""Seeded few-shot split builder of the FRL benchmark: nested, stratified, subject-disjoint, saved as manifests.

Every subset is a deterministic function of ``(fraction, seed)``: one seeded permutation (per class when stratified)
is cut at ``ceil(fraction * n)``, so for one seed the 1% subset is inside the 2% subset, inside the 10% subset...
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

SPLIT_MODES = ("images", "frames", "stride")


def check_fraction(fraction: float) -> float:
    """``ValueError`` unless ``0 < fraction <= 1``."""
    if not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    return float(fraction)


def few_shot_indices(num_items: int, fraction: float, seed: int, *, stratify: Sequence | None = None,
                     mode: str = "images", videos: Sequence | None = None, frames: Sequence | None = None) -> list[int]:
    """Sorted indices of the training subset.

    * ``mode="images"`` / ``"frames"``: uniform sample of ``ceil(fraction * n)`` items (frames of all videos
      pooled); with ``stratify`` (class or identity per item) the sample is taken per class, at least 1 each.
    * ``mode="stride"``: every ``round(1 / fraction)``-th frame of each video (needs ``videos`` and ``frames``);
      the redundancy protocol. Nested only when the strides divide each other (1%, 2%, 10%, 20%, 100%).
    """
    fraction = check_fraction(fraction)
    if mode not in SPLIT_MODES:
        raise ValueError(f"mode must be one of {SPLIT_MODES}, got {mode!r}")
    if num_items < 1:
        raise ValueError(f"num_items must be >= 1, got {num_items}")
    if mode == "stride":
        if videos is None or frames is None or len(videos) != num_items or len(frames) != num_items:
            raise ValueError("mode='stride' needs videos and frames, one entry per item")
        step = max(1, round(1 / fraction))
        by_video: dict = {}
        for index, (video, frame) in enumerate(zip(videos, frames)):
            by_video.setdefault(video, []).append((frame, index))
        return sorted(index for items in by_video.values() for rank, (_, index) in enumerate(sorted(items))
                      if rank % step == 0)
    if stratify is None:
        order = np.random.default_rng(seed).permutation(num_items)
        return sorted(order[: max(1, math.ceil(fraction * num_items))].tolist())
    if len(stratify) != num_items:
        raise ValueError(f"stratify must have one label per item ({num_items}), got {len(stratify)}")
    labels = np.asarray(stratify)
    chosen = []
    for position, label in enumerate(np.unique(labels)):
        members = np.flatnonzero(labels == label)
        order = np.random.default_rng((seed, position)).permutation(members)
        chosen += order[: max(1, math.ceil(fraction * len(members)))].tolist()
    return sorted(chosen)


def subject_disjoint_split(groups: Sequence, test_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, test) indices such that no group (subject / identity) has items on both sides."""
    check_fraction(test_fraction)
    groups = np.asarray(groups)
    unique = np.random.default_rng(seed).permutation(np.unique(groups))
    num_test = min(max(1, round(test_fraction * len(unique))), len(unique) - 1)
    if num_test < 1:
        raise ValueError("a subject-disjoint split needs at least 2 groups")
    test_groups = set(unique[:num_test].tolist())
    test = [i for i, g in enumerate(groups.tolist()) if g in test_groups]
    train = [i for i, g in enumerate(groups.tolist()) if g not in test_groups]
    return train, test


def save_manifest(path, task: str, fraction: float, seed: int, indices: Sequence[int], **extra) -> Path:
    """Write ``{"task", "fraction", "seed", "indices", ...}`` as JSON (the split file published with results)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest = {"task": task, "fraction": fraction, "seed": seed, "indices": [int(i) for i in indices], **extra}
    path.write_text(json.dumps(manifest))
    return path


__all__ = ["SPLIT_MODES", "check_fraction", "few_shot_indices", "save_manifest", "subject_disjoint_split"]
