"""The sparse-label protocol: a seeded choice of p% random labelled frames, and training windows around them.

* :func:`select_labelled_frames`: per video (default) exactly ``max(1, round_half_up(p * N_valid))`` frames of each
  video with at least one valid frame; pooled: ``max(1, round_half_up(p * sum N_valid))`` frames drawn uniformly
  from all valid frames of the training set at once. Frames whose labels are all missing (NaN, e.g. BP4D 9) are
  never chosen. Per video, the draw uses a generator seeded by ``(seed, crc32(video_id))``, so a video's frames do
  not depend on which other videos are in the set.
* :class:`LabelSplit`: the selection with its ratio, seed and sampling unit; saved as JSON with the run
  (``labels_r{ratio}_s{seed}.json``) so every result names the exact frames it was trained on.
* :func:`sample_window_start`: a training window of ``window_size`` frames that contains a labelled frame at a
  uniformly random position (the GRU gets past context; windows never always start at the label).
"""

import json
import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SAMPLINGS = ("per_video", "pooled")


def check_label_ratio(ratio: float) -> float:
    if not 0.0 < float(ratio) <= 1.0:
        raise ValueError(f"label_ratio must be in (0, 1] (a fraction of frames, e.g. 0.02 for 2%), got {ratio}")
    return float(ratio)


def round_half_up(value: float) -> int:
    """``floor(value + 0.5)``: 2.5 -> 3 (Python's ``round`` would give 2)."""
    return int(math.floor(value + 0.5))


def num_labelled(ratio: float, num_valid: int) -> int:
    """How many frames a video (or pool) of ``num_valid`` valid frames gets: ``max(1, round_half_up(r * n))``."""
    check_label_ratio(ratio)
    return 0 if num_valid == 0 else min(num_valid, max(1, round_half_up(ratio * num_valid)))


def _valid_frames(labels) -> np.ndarray:
    labels = np.asarray(labels, dtype=np.float64)
    if labels.ndim == 1:
        labels = labels[:, None]
    if labels.ndim != 2:
        raise ValueError(f"labels of a video must be (frames, num_aus), got shape {labels.shape}")
    return np.flatnonzero(~np.isnan(labels).all(axis=1))


@dataclass
class LabelSplit:
    """The labelled frames of a run: ``frames[video_id]`` = sorted 0-based frame indices."""

    ratio: float
    seed: int
    sampling: str
    frames: dict[str, list[int]] = field(default_factory=dict)

    @property
    def num_labelled(self) -> int:
        return sum(len(v) for v in self.frames.values())

    def mask(self, video_id: str, length: int) -> np.ndarray:
        """``(length,)`` bool: True at the labelled frames of ``video_id``."""
        mask = np.zeros(length, dtype=bool)
        mask[self.frames.get(video_id, [])] = True
        return mask

    def to_dict(self) -> dict:
        return {"ratio": self.ratio, "seed": self.seed, "sampling": self.sampling, "frames": self.frames}

    def save(self, path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1))
        return path

    @classmethod
    def load(cls, path) -> "LabelSplit":
        data = json.loads(Path(path).read_text())
        return cls(float(data["ratio"]), int(data["seed"]), data["sampling"],
                   {k: [int(i) for i in v] for k, v in data["frames"].items()})

    @staticmethod
    def file_name(ratio: float, seed: int) -> str:
        return f"labels_r{ratio:g}_s{seed}.json"


def select_labelled_frames(labels: dict, ratio: float, seed: int = 0, sampling: str = "per_video") -> LabelSplit:
    """``labels = {video_id: (T, K) array, NaN = missing}`` -> the seeded :class:`LabelSplit` (see module doc)."""
    ratio = check_label_ratio(ratio)
    if sampling not in SAMPLINGS:
        raise ValueError(f"label sampling must be one of {SAMPLINGS}, got {sampling!r}")
    valid = {video: _valid_frames(y) for video, y in labels.items()}
    frames: dict[str, list[int]] = {}
    if sampling == "per_video":
        for video, indices in valid.items():
            rng = np.random.default_rng([seed, zlib.crc32(str(video).encode())])
            chosen = rng.choice(indices, size=num_labelled(ratio, len(indices)), replace=False)
            frames[video] = sorted(int(i) for i in chosen)
    else:
        pool = [(video, int(i)) for video, indices in valid.items() for i in indices]
        rng = np.random.default_rng(seed)
        chosen = rng.choice(len(pool), size=num_labelled(ratio, len(pool)), replace=False)
        frames = {video: [] for video in valid}
        for j in sorted(chosen):
            frames[pool[j][0]].append(pool[j][1])
    return LabelSplit(ratio, seed, sampling, frames)


def sample_window_start(length: int, window_size: int, labelled: np.ndarray, rng: np.random.Generator) -> int:
    """Start of a ``window_size`` window over a video of ``length`` frames holding a random labelled frame at a
    random position; a video shorter than the window is an error."""
    if length < window_size:
        raise ValueError(f"a video of {length} frames is shorter than the temporal window ({window_size} frames)")
    labelled = np.asarray(labelled)
    if labelled.size == 0:
        raise ValueError("the video has no labelled frame to centre a training window on")
    target = int(rng.choice(labelled))
    position = int(rng.integers(0, window_size))
    return int(np.clip(target - position, 0, length - window_size))


__all__ = [
    "LabelSplit",
    "SAMPLINGS",
    "check_label_ratio",
    "num_labelled",
    "round_half_up",
    "sample_window_start",
    "select_labelled_frames",
]
