"""Data of the two Contrastive AU stages: video loading, stage-1 clips and stage-2 sparse-label windows.

A *sequence* is ``{"video_id", "subject_id", "frames": list of (H, W, 3) uint8 arrays or image paths (None = no
image), "labels": (T, K) float32 with NaN = missing | None}``. Frames are normalised by the method's video
processor (the shared ``AffectVideoProcessor``); augmentation is drawn once per clip (flip + brightness), never per
frame, so it cannot create fake motion.
"""

import re
from pathlib import Path

import numpy as np
import torch

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def frame_folder(folder: Path) -> dict[int, Path]:
    """``{0-based frame: image path}`` of a folder of frames named by their 1-based number (any zero padding)."""
    found = {}
    for path in Path(folder).glob("*"):
        match = re.search(r"(\d+)$", path.stem)
        if match and path.suffix.lower() in IMAGE_SUFFIXES:
            found[int(match.group(1)) - 1] = path
    return found


def load_frame(frame) -> np.ndarray | None:
    if frame is None or isinstance(frame, np.ndarray):
        return frame
    from PIL import Image

    return np.asarray(Image.open(frame).convert("RGB"))


def unlabelled_sequences(root) -> list[dict]:
    """Every video file and every sub-folder of frames under ``root`` (stage 1 needs no labels)."""
    from ...data.video import iter_frames

    sequences = []
    for path in sorted(Path(root).iterdir()):
        if path.is_dir():
            images = frame_folder(path)
            frames = [images[i] for i in sorted(images)]
        elif path.suffix.lower() in VIDEO_SUFFIXES:
            frames = [frame.image for frame in iter_frames(str(path))]
        else:
            continue
        if frames:
            sequences.append({"video_id": path.stem, "subject_id": path.stem, "frames": frames, "labels": None})
    if not sequences:
        raise ValueError(f"no videos or frame folders found under {root}")
    return sequences


def labelled_sequences(dataset_format: str, annotations, image_root, subjects=None) -> list[dict]:
    """DISFA / BP4D label files (+ frames ``<image_root>/<video_id>/<n>.jpg``) -> sequences (label-file lengths are
    checked by the readers: mismatched AU files raise ``ValueError``)."""
    from ...data.formats.affect_labels import group_sequences

    if dataset_format == "disfa":
        from ...data.formats.disfa import load_disfa_labels

        table = load_disfa_labels(annotations, subjects=subjects)
    elif dataset_format == "bp4d":
        from ...data.formats.bp4d import load_bp4d_labels

        table = load_bp4d_labels(annotations, subjects=subjects)
    else:
        raise ValueError(f"dataset_format must be 'disfa' or 'bp4d', got {dataset_format!r}")
    subject_of = dict(zip(table["video_id"], table["subject_id"]))
    sequences = []
    for video_id, seq in group_sequences(table).items():
        images = frame_folder(Path(image_root) / video_id) if image_root else {}
        sequences.append({"video_id": video_id, "subject_id": subject_of[video_id],
                          "frames": [images.get(int(f)) for f in seq["frames"]], "labels": seq["labels"]})
    return sequences


def _pixels(processor, frames, flip: bool = False, brightness: float = 1.0) -> torch.Tensor:
    """Frames -> normalised ``(T, 3, H, W)`` with one augmentation draw for the whole clip."""
    arrays = [load_frame(f) for f in frames]
    if any(a is None for a in arrays):
        raise ValueError("a training clip contains a frame without an image")
    if flip:
        arrays = [np.ascontiguousarray(a[:, ::-1]) for a in arrays]
    if brightness != 1.0:
        arrays = [np.clip(a.astype(np.float32) * brightness, 0, 255).astype(np.uint8) for a in arrays]
    return processor(arrays)["pixel_values"][0]


class ClipDataset(torch.utils.data.Dataset):
    """Stage 1: ``clips_per_video`` random clips of ``clip_length`` frames ``frame_stride`` apart per video; the
    draw depends on (seed, epoch, index), so a resumed run sees the same clips."""

    def __init__(self, sequences, processor, clip_length: int, frame_stride: int, clips_per_video: int = 8,
                 seed: int = 0, augment: bool = True):
        self.span = (clip_length - 1) * frame_stride + 1
        for seq in sequences:
            if len(seq["frames"]) < self.span:
                raise ValueError(f"video {seq['video_id']} has {len(seq['frames'])} frames, shorter than the "
                                 f"temporal window of a clip ({clip_length} frames x stride {frame_stride} = "
                                 f"{self.span} frames)")
        self.sequences, self.processor = sequences, processor
        self.clip_length, self.frame_stride, self.clips_per_video = clip_length, frame_stride, clips_per_video
        self.seed, self.augment, self.epoch = seed, augment, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self):
        return len(self.sequences) * self.clips_per_video

    def __getitem__(self, index):
        rng = np.random.default_rng([self.seed, self.epoch, index])
        seq = self.sequences[index % len(self.sequences)]
        start = int(rng.integers(0, len(seq["frames"]) - self.span + 1))
        frames = seq["frames"][start : start + self.span : self.frame_stride]
        flip, brightness = (rng.random() < 0.5, rng.uniform(0.8, 1.2)) if self.augment else (False, 1.0)
        return {"pixel_values": _pixels(self.processor, frames, flip, brightness)}


class SparseWindowDataset(torch.utils.data.Dataset):
    """Stage 2: windows of ``window_size`` frames, each holding a labelled frame at a random position; labels are
    passed whole with ``label_mask`` (True only at the selected frames), so the loss sees nothing else."""

    def __init__(self, sequences, processor, split, window_size: int, windows_per_video: int = 8, seed: int = 0,
                 augment: bool = False):
        self.items = []
        for seq in sequences:
            if len(seq["frames"]) < window_size:
                raise ValueError(f"video {seq['video_id']} has {len(seq['frames'])} frames, shorter than the "
                                 f"temporal window ({window_size} frames)")
            mask = split.mask(seq["video_id"], len(seq["frames"]))
            if mask.any():
                self.items.append((seq, mask))
        if not self.items:
            raise ValueError("no video has a labelled frame")
        self.processor, self.window_size, self.windows_per_video = processor, window_size, windows_per_video
        self.seed, self.augment, self.epoch = seed, augment, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self):
        return len(self.items) * self.windows_per_video

    def __getitem__(self, index):
        from .sparse_labels import sample_window_start

        rng = np.random.default_rng([self.seed, self.epoch, index])
        seq, mask = self.items[index % len(self.items)]
        start = sample_window_start(len(mask), self.window_size, np.flatnonzero(mask), rng)
        stop = start + self.window_size
        flip, brightness = (rng.random() < 0.5, rng.uniform(0.8, 1.2)) if self.augment else (False, 1.0)
        return {"pixel_values": _pixels(self.processor, seq["frames"][start:stop], flip, brightness),
                "labels": torch.from_numpy(np.asarray(seq["labels"][start:stop], dtype=np.float32)),
                "label_mask": torch.from_numpy(mask[start:stop])}


def video_pixels(processor, frames) -> torch.Tensor:
    """A whole video -> normalised ``(T, 3, H, W)`` (frames without an image become zeros)."""
    arrays = [load_frame(f) for f in frames]
    shape = next(a.shape for a in arrays if a is not None)
    return processor([a if a is not None else np.zeros(shape, np.uint8) for a in arrays])["pixel_values"][0]


__all__ = [
    "ClipDataset",
    "SparseWindowDataset",
    "frame_folder",
    "labelled_sequences",
    "load_frame",
    "unlabelled_sequences",
    "video_pixels",
]
