"""Training data of GANnotation: triplets (A, B, C) of frames of one video, each cropped around its own landmarks.

Sources (all give "videos" ``{"video_id", "images": [array | PIL | path, ...], "landmarks": (T, N, 2)}``):

* a ``frames + landmarks`` folder: one sub-folder per video holding its frames (``.jpg``/``.png``, sorted by name)
  and either ``landmarks.npy`` (T, N, 2) or one iBUG ``.pts`` file per frame (same stem);
* the 300VW release itself: sub-folders ``<video_id>/vid.avi`` + ``annot/000001.pts``
  (:mod:`hfvid.data.formats.vw300`, which decodes each video once into a frame folder);
* a ``datasets`` table with columns ``video_id, frame_idx, image, landmarks`` (:func:`videos_from_table`);
* :func:`hfvid.data.synthetic_pairs.synthetic_videos` (built-in, offline).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...modules.heatmaps import IBUG68_FLIP_PERMUTATION, warp_affine
from .landmark_maps import crop_box, crop_matrix, to_66_points

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


def load_video_folder(root, frames_dir=None) -> list[dict]:
    """Read a ``<root>/<video>/{frames, landmarks.npy | *.pts}`` or 300VW tree (see the module docstring);
    ``frames_dir`` is where 300VW videos are decoded (default ``<video folder>/frames``)."""
    from ...data.formats.ibug_pts import read_pts
    from ...data.formats.vw300 import is_300vw_video, read_300vw_video

    root = Path(root)
    videos = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if is_300vw_video(folder):
            video = read_300vw_video(folder, frames_dir)
            videos.append({"video_id": video["video_id"], "images": video["images"], "landmarks": video["landmarks"]})
            continue
        frames = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not frames:
            continue
        if (folder / "landmarks.npy").is_file():
            landmarks = np.load(folder / "landmarks.npy", allow_pickle=False)
        else:
            missing = [f.name for f in frames if not f.with_suffix(".pts").is_file()]
            if missing:
                raise ValueError(f"{folder}: no landmarks.npy and no .pts file for frames {missing[:3]}")
            landmarks = np.stack([read_pts(f.with_suffix(".pts")) for f in frames])
        if landmarks.ndim != 3 or landmarks.shape[0] != len(frames) or landmarks.shape[-1] != 2:
            raise ValueError(f"{folder}: landmarks must have shape ({len(frames)}, N, 2), got {landmarks.shape}")
        videos.append({"video_id": folder.name, "images": frames, "landmarks": landmarks.astype(np.float32)})
    if not videos:
        raise ValueError(f"{root} holds no video folders with frames")
    return videos


def videos_from_table(dataset) -> list[dict]:
    """Group a table with ``video_id, frame_idx, image, landmarks`` columns into videos (frames in order)."""
    missing = {"video_id", "frame_idx", "image", "landmarks"} - set(dataset.column_names)
    if missing:
        raise ValueError(f"the table needs columns video_id, frame_idx, image, landmarks; missing {sorted(missing)}")
    groups: dict[str, list] = {}
    for row in dataset:
        groups.setdefault(str(row["video_id"]), []).append(row)
    videos = []
    for video_id, rows in groups.items():
        rows.sort(key=lambda r: r["frame_idx"])
        videos.append({"video_id": video_id, "images": [r["image"] for r in rows],
                       "landmarks": np.asarray([r["landmarks"] for r in rows], dtype=np.float32)})
    return videos


def _load_image(image) -> torch.Tensor:
    """Array / PIL / path -> (3, H, W) float tensor in [0, 1]."""
    if isinstance(image, (str, Path)):
        from PIL import Image

        image = Image.open(image).convert("RGB")
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"frames must be RGB images (H, W, 3), got shape {array.shape}")
    array = array.astype(np.float32) / 255.0 if array.dtype == np.uint8 else array.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)


def crop_face(image: torch.Tensor, points: np.ndarray, size: int, margin: float = 16.0, transform=None):
    """Crop (3, H, W) around ``points`` with the GANnotation rule -> ((3, size, size), points in crop pixels).

    ``transform`` (2, 3), a crop-pixel map applied after the crop (augmentation), moves pixels and points alike.
    """
    matrix = crop_matrix(crop_box(points, margin), size)
    if transform is not None:
        matrix = np.asarray(transform, dtype=np.float64) @ np.vstack([matrix, [0.0, 0.0, 1.0]])
    crop = warp_affine(image[None], torch.from_numpy(matrix).float()[None], size, padding_mode="border")[0]
    return crop, (points @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


class TripletDataset(torch.utils.data.Dataset):
    """Item ``i`` = frame ``i`` (anchor A) plus two other frames B, C of its video, each cropped and in [-1, 1].

    B and C are drawn among the frames ``min_gap <= |t - t_A| <= max_gap`` away (any other frame when none is),
    seeded by ``(seed, epoch, i)``. With ``margin_jitter`` the crop margin is ``margin + margin_jitter * N(0, 1)``
    per frame (the official ``tight = 16 + 4 N(0, 1)``). 68-point shapes are reduced to 66 for 66-point models.
    Augmentation, drawn once per triplet (so A, B, C keep their relative pose and one identity): a rotation of
    up to ``rotation`` degrees about the crop centre and, with probability ``flip_prob``, a horizontal mirror with
    the landmarks renumbered by ``flip_permutation`` (iBUG 68-point mirror table by default; other point counts
    must give theirs). Items: ``source, target, third`` (3, S, S) and ``landmarks_source/target/third`` (N, 2)
    in crop pixels.
    """

    def __init__(self, videos: list[dict], image_size: int, num_landmarks: int, margin: float = 16.0,
                 margin_jitter: float = 0.0, min_gap: int = 1, max_gap: int | None = None, seed: int = 0,
                 rotation: float = 0.0, flip_prob: float = 0.0, flip_permutation=None):
        self.videos, self.image_size, self.num_landmarks = videos, image_size, num_landmarks
        self.margin, self.margin_jitter = margin, margin_jitter
        self.min_gap, self.max_gap, self.seed, self.epoch = min_gap, max_gap, seed, 0
        if rotation < 0 or not 0.0 <= flip_prob <= 1.0:
            raise ValueError(f"rotation must be >= 0 degrees and flip_prob in [0, 1], got {rotation}, {flip_prob}")
        self.rotation, self.flip_prob = rotation, flip_prob
        self.index = [(v, t) for v, video in enumerate(videos) if len(video["images"]) >= 3
                      for t in range(len(video["images"]))]
        if not self.index:
            raise ValueError("no video has the 3 frames a triplet needs")
        counts = {np.asarray(video["landmarks"]).shape[1] for video in videos}
        if not counts <= {num_landmarks, 68 if num_landmarks == 66 else num_landmarks}:
            raise ValueError(f"videos have {sorted(counts)} landmarks per frame, the model expects {num_landmarks}")
        if flip_permutation is None and counts == {68}:
            flip_permutation = IBUG68_FLIP_PERMUTATION
        if flip_prob > 0 and (flip_permutation is None or sorted(flip_permutation) != list(range(max(counts)))):
            raise ValueError(f"flip_prob > 0 needs flip_permutation, a permutation of the videos' {sorted(counts)} "
                             f"landmark indices (the 68-point iBUG table is the default), got {flip_permutation}")
        self.flip_permutation = flip_permutation

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.index)

    def _augmentation(self, rng) -> tuple[np.ndarray | None, bool]:
        """One triplet's crop-pixel map (rotation about the centre, then the optional mirror) and the mirror flag."""
        if not self.rotation and not self.flip_prob:
            return None, False
        angle = np.deg2rad(rng.uniform(-self.rotation, self.rotation))
        mirror = bool(rng.random() < self.flip_prob)
        cos, sin = np.cos(angle), np.sin(angle)
        linear = np.array([[cos, -sin], [sin, cos]]) @ np.diag([-1.0 if mirror else 1.0, 1.0])
        center = np.full(2, (self.image_size - 1) / 2)  # centre-at-integer pixels: the mirror is x -> S - 1 - x
        return np.concatenate([linear, (center - linear @ center)[:, None]], 1), mirror

    def _frame(self, video: dict, t: int, rng, transform=None, mirror=False) -> tuple[torch.Tensor, np.ndarray]:
        points = np.asarray(video["landmarks"][t], dtype=np.float64)
        margin = self.margin + (self.margin_jitter * rng.normal() if self.margin_jitter else 0.0)
        crop, points = crop_face(_load_image(video["images"][t]), points, self.image_size, max(margin, 0.0),
                                 transform)
        if mirror:
            points = points[list(self.flip_permutation)]
        if self.num_landmarks == 66:
            points = to_66_points(points)
        return crop * 2 - 1, points

    def __getitem__(self, i: int) -> dict:
        v, anchor = self.index[i]
        video = self.videos[v]
        rng = np.random.default_rng((self.seed, self.epoch, i))
        gaps = np.abs(np.arange(len(video["images"])) - anchor)
        allowed = (gaps >= self.min_gap) & (gaps <= (self.max_gap if self.max_gap is not None else gaps.max()))
        candidates = np.flatnonzero(allowed & (gaps > 0))
        if len(candidates) < 2:
            candidates = np.flatnonzero(gaps > 0)
        second, third = rng.choice(candidates, size=2, replace=False)
        transform, mirror = self._augmentation(rng)
        item = {}
        for name, t in (("source", anchor), ("target", second), ("third", third)):
            item[name], points = self._frame(video, int(t), rng, transform, mirror)
            item[f"landmarks_{name}"] = torch.from_numpy(points.astype(np.float32))
        return item


__all__ = ["TripletDataset", "crop_face", "load_video_folder", "videos_from_table"]
