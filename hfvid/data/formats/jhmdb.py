"""JHMDB-21: boxes from the puppet masks, and the three official splits.

Layout (the JHMDB release): ``puppet_mask/<class>/<video>/puppet_mask.mat`` with ``part_mask`` ``(H, W, T)`` (non-zero
= the actor), ``splits/<class>_test_split<N>.txt`` with lines ``<video>.avi 1|2`` (1 = train, 2 = test), frames as
``Frames/<class>/<video>/00001.png``. Every frame shows one actor: its box is the tight box of the mask (0-based
``x1, y1, x2 = last column + 1, y2``); frames with an empty mask have no box. The video's class is its folder.
(The ``JHMDB-GT.pkl`` of ACT is a pickle and is not read.)

Output: the video annotations of :mod:`hfvid.data.formats.action_tubes`, ``video_id`` = ``"<class>/<video>"``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .hmdb51 import HMDB51_TRAIN, HMDB51_UNUSED, read_hmdb51_split_file

JHMDB_CLASSES = (
    "brush_hair", "catch", "clap", "climb_stairs", "golf", "jump", "kick_ball", "pick", "pour", "pullup", "push",
    "run", "shoot_ball", "shoot_bow", "shoot_gun", "sit", "stand", "swing_baseball", "throw", "walk", "wave",
)


def mask_boxes(mask) -> tuple[np.ndarray, np.ndarray]:
    """``(frames (n,) 1-based, boxes (n, 4))`` of the non-empty frames of a ``(H, W, T)`` mask."""
    mask = np.asarray(mask)
    if mask.ndim == 2:
        mask = mask[..., None]
    if mask.ndim != 3:
        raise ValueError(f"part_mask must be (height, width, frames), got shape {mask.shape}")
    frames, boxes = [], []
    for t in range(mask.shape[2]):
        ys, xs = np.nonzero(mask[:, :, t])
        if len(xs):
            frames.append(t + 1)
            boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    return np.asarray(frames, np.int64), np.asarray(boxes, np.float32).reshape(-1, 4)


def read_jhmdb_split(splits_dir, split: int = 1) -> dict[str, str]:
    """``{"<class>/<video>": "train" | "test"}`` of split ``split`` (1..3) from ``<class>_test_split<N>.txt``."""
    if split not in (1, 2, 3):
        raise ValueError(f"split must be 1, 2 or 3, got {split!r}")
    splits_dir = Path(splits_dir)
    files = sorted(splits_dir.glob(f"*_test_split{split}.txt"))
    if not files:
        raise FileNotFoundError(f"no <class>_test_split{split}.txt files in {splits_dir}")
    subsets = {}
    for file in files:
        action, _, rows = read_hmdb51_split_file(file)  # the same '<video>.avi <code>' files as HMDB51's
        for video, code in rows:
            if code == HMDB51_UNUSED:
                raise ValueError(f"{file}: expected '<video>.avi 1|2' (JHMDB splits use every video), got {video} 0")
            subsets[f"{action}/{video.removesuffix('.avi')}"] = "train" if code == HMDB51_TRAIN else "test"
    return subsets


def read_jhmdb(root, split: int = 1, subset: str = "train", splits_dir=None) -> list[dict]:
    """Video annotations of one subset of a JHMDB root (``puppet_mask/`` and ``splits/`` beneath it)."""
    from scipy.io import loadmat

    if subset not in ("train", "test"):
        raise ValueError(f"subset must be 'train' or 'test', got {subset!r}")
    root = Path(root)
    videos = []
    for video_id, kind in sorted(read_jhmdb_split(splits_dir or root / "splits", split).items()):
        if kind != subset:
            continue
        action = video_id.split("/")[0]
        if action not in JHMDB_CLASSES:
            raise ValueError(f"split files name class {action!r}, not one of the 21 JHMDB classes")
        path = root / "puppet_mask" / video_id / "puppet_mask.mat"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found (JHMDB puppet mask of {video_id})")
        data = loadmat(path)
        if "part_mask" not in data:
            found = sorted(k for k in data if k[0] != "_")
            raise ValueError(f"{path}: expected the variable 'part_mask', found {found}")
        mask = data["part_mask"]
        frames, boxes = mask_boxes(mask)
        videos.append({"video_id": video_id, "num_frames": int(mask.shape[2]) if mask.ndim == 3 else 1,
                       "height": int(mask.shape[0]), "width": int(mask.shape[1]),
                       "tubes": [{"action_id": JHMDB_CLASSES.index(action) + 1, "frames": frames, "boxes": boxes}]
                       if len(frames) else []})
    return videos


__all__ = ["JHMDB_CLASSES", "mask_boxes", "read_jhmdb", "read_jhmdb_split"]
