"""Per-frame affect / AU videos for training: labelled and unlabelled sequences and the datasets built on them.

A *sequence* is ``{"video_id", "subject_id", "frames": list of (H, W, 3) uint8 arrays or image paths (None = no
image), "labels": (T, K) float32 with NaN = missing | None}``. Label files come from the readers in
``hfvid.data.formats`` (0-based frames); images from frame folders ``<image_root>/<video_id>/<n>.jpg`` read by
:mod:`hfvid.data.frame_folders` (``n`` = frame + ``first_frame_index``, 1 by default). Used by Affective Processes
(stage 1 frames) and Contrastive AU (stage 1 clips, stage 2 sparse-label windows). Augmentation is drawn from
``(seed, epoch, index)``, so a resumed run sees the same items, and once per clip (flip + brightness), never per
frame, so it cannot create fake motion.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .frame_folders import FIRST_FRAME_INDEX, frames_for_labels, list_frame_files

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
LABEL_FORMATS = ("affwild2", "disfa", "bp4d", "sewa")


def load_frame(frame) -> np.ndarray | None:
    """An image path -> (H, W, 3) uint8 RGB array; arrays and None pass through."""
    if frame is None or isinstance(frame, np.ndarray):
        return frame
    from PIL import Image

    return np.asarray(Image.open(frame).convert("RGB"))


def unlabelled_sequences(root) -> list[dict]:
    """Every video file and every sub-folder of frames under ``root`` (frames in file-number order; no labels)."""
    from .frame_sequences import VideoFileFrames

    sequences = []
    for path in sorted(Path(root).iterdir()):
        if path.is_dir():
            frames = [image for _, image in list_frame_files(path)]
        elif path.suffix.lower() in VIDEO_SUFFIXES:
            frames = VideoFileFrames(path)  # decoded clip by clip when sliced, never whole
        else:
            continue
        if frames:
            sequences.append({"video_id": path.stem, "subject_id": path.stem, "frames": frames, "labels": None})
    if not sequences:
        raise ValueError(f"no videos or frame folders found under {root}")
    return sequences


def read_labels(dataset_format: str, annotations, subjects=None):
    """The canonical label table (``hfvid.data.formats.affect_labels``) of one of :data:`LABEL_FORMATS`.

    ``subjects`` keeps only those subjects (DISFA / BP4D, whose readers check the label-file lengths).
    """
    if dataset_format == "disfa":
        from .formats.disfa import load_disfa_labels

        return load_disfa_labels(annotations, subjects=subjects)
    if dataset_format == "bp4d":
        from .formats.bp4d import load_bp4d_labels

        return load_bp4d_labels(annotations, subjects=subjects)
    if dataset_format not in LABEL_FORMATS:
        raise ValueError(f"dataset_format must be one of {LABEL_FORMATS}, got {dataset_format!r}")
    if subjects is not None:
        raise ValueError(f"subjects selects DISFA / BP4D subjects; {dataset_format} has no subject split here")
    if dataset_format == "affwild2":
        from .formats.affwild2 import load_affwild2_va

        return load_affwild2_va(annotations)
    from .formats.sewa import load_sewa_manifest

    return load_sewa_manifest(annotations)


def labelled_sequences(dataset_format: str, annotations, image_root, subjects=None,
                       first_frame_index: int = FIRST_FRAME_INDEX) -> list[dict]:
    """Label files (+ frames ``<image_root>/<video_id>/<n>.jpg``, numbered from ``first_frame_index``) -> sequences.

    Without ``image_root`` every frame is None (labels only). A frame folder numbered with the other convention
    raises ``ValueError`` (see :func:`hfvid.data.frame_folders.frames_for_labels`).
    """
    from .formats.affect_labels import group_sequences

    table = read_labels(dataset_format, annotations, subjects)
    subject_of = dict(zip(table["video_id"], table["subject_id"]))
    sequences = []
    for video_id, seq in group_sequences(table).items():
        frames = (frames_for_labels(Path(image_root) / video_id, seq["frames"], first_frame_index) if image_root
                  else [None] * len(seq["frames"]))
        sequences.append({"video_id": video_id, "subject_id": subject_of[video_id], "frames": frames,
                          "labels": seq["labels"]})
    return sequences


def _augment(arrays, flip: bool, brightness: float) -> list[np.ndarray]:
    if flip:
        arrays = [np.ascontiguousarray(a[:, ::-1]) for a in arrays]
    if brightness != 1.0:
        arrays = [np.clip(a.astype(np.float32) * brightness, 0, 255).astype(np.uint8) for a in arrays]
    return arrays


def _pixels(processor, frames, flip: bool = False, brightness: float = 1.0) -> torch.Tensor:
    """Frames -> normalised ``(T, 3, H, W)`` with one augmentation draw for the whole clip."""
    arrays = [load_frame(f) for f in frames]
    if any(a is None for a in arrays):
        raise ValueError("a training clip contains a frame without an image")
    return processor(_augment(arrays, flip, brightness))["pixel_values"][0]


class FrameDataset(torch.utils.data.Dataset):
    """Single frames with at least one valid label and an image: items ``(frame (H, W, 3) uint8, labels (K,))``.

    With ``augment`` a frame is flipped horizontally with probability 0.5, drawn from ``(seed, epoch, index)``.
    """

    def __init__(self, sequences, seed: int = 0, augment: bool = False):
        self.items = [(s, t) for s in sequences for t in range(len(s["labels"]))
                      if s["frames"][t] is not None and not np.isnan(s["labels"][t]).all()]
        if not self.items:
            raise ValueError("no labelled frame with an image")
        self.seed, self.augment, self.epoch = seed, augment, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        sequence, t = self.items[index]
        flip = self.augment and np.random.default_rng([self.seed, self.epoch, index]).random() < 0.5
        return _augment([load_frame(sequence["frames"][t])], flip, 1.0)[0], sequence["labels"][t]


class ClipDataset(torch.utils.data.Dataset):
    """``clips_per_video`` random clips of ``clip_length`` frames ``frame_stride`` apart per video; the draw depends
    on (seed, epoch, index), so a resumed run sees the same clips."""

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
    """Windows of ``window_size`` frames, each holding a labelled frame (of ``split``, a Contrastive AU
    ``LabelSplit``) at a random position; labels are passed whole with ``label_mask`` (True only at the selected
    frames), so the loss sees nothing else."""

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
        from ..models.contrastive_au.sparse_labels import sample_window_start

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
    "LABEL_FORMATS",
    "ClipDataset",
    "FrameDataset",
    "SparseWindowDataset",
    "labelled_sequences",
    "load_frame",
    "read_labels",
    "unlabelled_sequences",
    "video_pixels",
]
