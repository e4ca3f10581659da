"""The self-training pieces of Keypoints-to-Landmarks: pseudo-labels, pair sampling, training views and
correspondence recovery (stage 1 (c)-(d) and stage 2 of the spec).

* :class:`PseudoLabels`: per point ``image index, (x, y) crop px, cluster id, mirror cluster id`` (npz on disk).
* :func:`sample_pairs`: positives across the two views (equal id) and within-view negatives (TPAMI) topped up with
  random grid locations, none closer than ``min_distance`` grid px.
* :class:`SelfTrainingPairs` (stage 1) and :class:`PseudoLabelViews` (stage 2): augmented crops built on
  :class:`hfvid.data.landmarks.LandmarkTrainingViews`.
* :func:`recover_correspondences_with_model`: detect keypoints with the current model on every image and its mirror,
  stream the descriptors to disk, cluster (K then M), and return the new pseudo-labels.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...clustering import Correspondences, recover_correspondences
from ...data.landmarks import LandmarkTrainingViews
from ...modules.heatmaps import apply_affine, compose_affine, from_map_coords, invert_affine, to_map_coords


@dataclass
class PseudoLabels:
    """Pseudo-labels of a training set: one row per labelled point (crop pixels of the un-augmented crop)."""

    image: np.ndarray  # (N,) record index
    points: np.ndarray  # (N, 2) crop pixels
    ids: np.ndarray  # (N,) cluster id (warm-up: the point's index within its image)
    mirror_ids: np.ndarray  # (N,) id of the same point in the mirrored image, -1 when unknown
    clustered: bool = False  # False during the warm start (ids are per-image indices, not clusters)

    def of_image(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = self.image == index
        return self.points[rows], self.ids[rows], self.mirror_ids[rows]

    def save(self, path) -> None:
        np.savez(path, image=self.image, points=self.points, ids=self.ids, mirror_ids=self.mirror_ids,
                 clustered=np.array(self.clustered))

    @classmethod
    def load(cls, path) -> "PseudoLabels":
        data = np.load(path, allow_pickle=False)
        return cls(data["image"], data["points"], data["ids"], data["mirror_ids"], bool(data["clustered"]))

    @classmethod
    def from_keypoints(cls, table: list[dict]) -> "PseudoLabels":
        """Warm-start labels from generic keypoints ``[{"index", "points"}]``: id = index within the image."""
        image = np.concatenate([np.full(len(row["points"]), row["index"]) for row in table])
        points = np.concatenate([np.asarray(row["points"], np.float32).reshape(-1, 2) for row in table])
        ids = np.concatenate([np.arange(len(row["points"])) for row in table])
        return cls(image, points, ids, np.full(len(ids), -1), clustered=False)


def _negatives(points: np.ndarray, count: int, min_distance: float, grid: int, rng) -> np.ndarray:
    """Up to ``count`` within-view pairs (x1, y1, x2, y2): distinct keypoints, then (keypoint, random location)."""
    if len(points) == 0 or count == 0:
        return np.zeros((0, 4), np.int64)
    first, second = np.triu_indices(len(points), k=1)
    pairs = np.concatenate([points[first], points[second]], axis=1)
    if len(pairs) > count:
        pairs = pairs[rng.choice(len(pairs), count, replace=False)]
    missing = count - len(pairs)
    if missing > 0:
        anchors = points[rng.integers(len(points), size=2 * missing + 16)]
        others = rng.integers(0, grid, size=(len(anchors), 2))
        pairs = np.concatenate([pairs, np.concatenate([anchors, others], axis=1)])
    distance = np.linalg.norm(pairs[:, :2] - pairs[:, 2:], axis=1)
    return pairs[distance >= min_distance][:count]


def sample_pairs(points_1, ids_1, points_2, ids_2, num_negatives: int, min_distance: float, grid_size: int,
                 rng: np.random.Generator) -> dict:
    """Training pairs of two views given their integer grid points (n, 2) and ids (n,).

    Positives: points of view 1 and view 2 with equal id. Negatives: within each view, pairs of distinct keypoints
    topped up to ``num_negatives`` with (keypoint, random grid location) pairs; pairs closer than ``min_distance``
    grid px are dropped. Returns numpy arrays ``positives (Np, 4)``, ``negatives`` (a list of two (n_v, 4)).
    """
    position = {int(i): row for row, i in enumerate(ids_2)}
    matches = [(row, position[int(i)]) for row, i in enumerate(ids_1) if int(i) in position]
    positives = np.array([np.concatenate([points_1[a], points_2[b]]) for a, b in matches], np.int64).reshape(-1, 4)
    negatives = [_negatives(points, num_negatives, min_distance, grid_size, rng) for points in (points_1, points_2)]
    return {"positives": positives, "negatives": negatives}


def _pad(rows: np.ndarray, length: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    out = torch.zeros(length, width, dtype=torch.long)
    mask = torch.zeros(length, dtype=torch.bool)
    count = min(len(rows), length)
    out[:count] = torch.as_tensor(rows[:count].reshape(-1, width), dtype=torch.long)
    mask[:count] = True
    return out, mask


class SelfTrainingPairs(LandmarkTrainingViews):
    """Stage-1 training samples: two augmented views with their grid keypoints and sampled pairs.

    View 1 is record ``j``; view 2 is, with probability ``other_image_prob`` once the labels are clusters, a random
    other record, else another augmentation of ``j``. A mirrored view gives every point its mirror id (points with
    an unknown mirror id are dropped); mirroring is off during the warm start. Items hold fixed-size tensors
    (``max_points`` keypoints, ``max_points`` positives, ``num_negatives`` negatives per view) plus masks, ready for
    [`KeypointsToLandmarksModel.forward`].
    """

    def __init__(self, records, processor, labels: PseudoLabels, heatmap_size: int, max_points: int = 200,
                 num_negatives: int = 5000, min_distance: float = 5.7, other_image_prob: float = 0.5,
                 rotation: float = 40.0, scale_range=(0.8, 1.2), shift: float = 0.05, flip_prob: float = 0.5,
                 color_jitter: float = 0.2, seed: int = 0):
        super().__init__(records, processor, flip_permutation=None, augment=True, rotation=rotation,
                         scale_range=scale_range, shift=shift, flip_prob=flip_prob, color_jitter=color_jitter,
                         second_view=False, seed=seed)
        self.heatmap_size, self.max_points = heatmap_size, max_points
        self.num_negatives, self.min_distance, self.other_image_prob = num_negatives, min_distance, other_image_prob
        self.set_labels(labels)

    def set_labels(self, labels: PseudoLabels) -> None:
        """Swap in the pseudo-labels of a new round (cluster ids are only meaningful within one round)."""
        self.labels = labels
        self.labelled = np.unique(labels.image)

    def _view(self, index: int, rng) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
        from ...modules.images import crop_faces, image_to_tensor

        record = self.records[index]
        size = self.processor.crop_size
        box = torch.as_tensor(np.asarray(record["box"], dtype=np.float32))[None]
        mirror = bool(self.labels.clustered and rng.random() < self.flip_prob)
        similarity = self._random_similarity(rng, self.rotation, self.scale_range, self.shift, mirror)
        matrix = compose_affine(similarity, self.processor.crop_matrices(box)[0])
        crop = self._jitter_colors(rng, crop_faces(image_to_tensor(record["image"]), matrix[None], size)[0])
        points, ids, mirror_ids = self.labels.of_image(index)
        if mirror:
            points, ids = points[mirror_ids >= 0], mirror_ids[mirror_ids >= 0]
        moved = apply_affine(similarity[None], torch.as_tensor(points, dtype=torch.float32).reshape(1, -1, 2))[0]
        grid = torch.round(to_map_coords(moved, size / self.heatmap_size)).long().numpy()
        inside = ((grid >= 0) & (grid < self.heatmap_size)).all(axis=1)
        return self.processor.normalize_crops(crop), grid[inside], np.asarray(ids)[inside]

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng((self.seed, self.epoch, index))
        pixels_1, points_1, ids_1 = self._view(index, rng)
        other = index
        if self.labels.clustered and len(self.labelled) > 1 and rng.random() < self.other_image_prob:
            other = int(rng.choice(self.labelled[self.labelled != index]))
        pixels_2, points_2, ids_2 = self._view(other, rng)
        pairs = sample_pairs(points_1, ids_1, points_2, ids_2, self.num_negatives, self.min_distance,
                             self.heatmap_size, rng)
        keypoints, keypoint_mask = _pad(points_1, self.max_points, 2)
        keypoints_pair, keypoint_mask_pair = _pad(points_2, self.max_points, 2)
        positive_pairs, positive_mask = _pad(pairs["positives"], self.max_points, 4)
        negatives = [_pad(rows, self.num_negatives, 4) for rows in pairs["negatives"]]
        return {
            "pixel_values": pixels_1, "pixel_values_pair": pixels_2,
            "keypoints": keypoints, "keypoint_mask": keypoint_mask,
            "keypoints_pair": keypoints_pair, "keypoint_mask_pair": keypoint_mask_pair,
            "positive_pairs": positive_pairs, "positive_mask": positive_mask,
            "negative_pairs": torch.stack([n[0] for n in negatives]),
            "negative_mask": torch.stack([n[1] for n in negatives]),
        }


def _crop_to_image(processor, box, points) -> np.ndarray:
    """Crop-pixel points (K, 2) of the processor's crop of ``box`` -> image pixels (NaN stays NaN)."""
    matrix = processor.crop_matrices(torch.as_tensor(np.asarray(box, np.float32))[None])
    points = torch.as_tensor(np.asarray(points, np.float32))[None]
    return apply_affine(invert_affine(matrix), points)[0].numpy()


def inverse_permutation(permutation) -> list[int]:
    inverse = np.empty(len(permutation), dtype=np.int64)
    inverse[np.asarray(permutation)] = np.arange(len(permutation))
    return inverse.tolist()


class PseudoLabelViews(LandmarkTrainingViews):
    """Stage-2 samples: augmented crop, K pseudo-label landmarks (NaN = absent -> masked), mirror with the learned
    flip permutation, and a cutout square (side ``cutout_fraction`` of the crop, probability ``cutout_prob``).

    The records' ``landmarks`` are pseudo-labels in crop pixels of the plain box crop (as correspondence recovery
    returns them); they are mapped back to image pixels here, so every augmentation acts on the image once."""

    def __init__(self, records, processor, flip_permutation=None, cutout_prob: float = 0.5,
                 cutout_fraction: float = 80 / 256, **kwargs):
        # a landmark with id a appears as id perm[a] in the mirrored image: the mirrored labels are old[perm^-1]
        table = None if flip_permutation is None else inverse_permutation(flip_permutation)
        records = [dict(r, landmarks=_crop_to_image(processor, r["box"], r["landmarks"])) for r in records]
        super().__init__(records, processor, flip_permutation=table, second_view=False, **kwargs)
        self.cutout_prob, self.cutout_fraction = cutout_prob, cutout_fraction

    def __getitem__(self, index: int) -> dict:
        item = super().__getitem__(index)
        labels = item["labels"]
        item["landmark_mask"] = torch.isfinite(labels).all(-1)
        item["labels"] = torch.nan_to_num(labels, nan=-1.0)
        if self.augment and self.cutout_prob:
            rng = np.random.default_rng((self.seed, self.epoch, index, 1))
            if rng.random() < self.cutout_prob:
                size = self.processor.crop_size
                side = max(int(round(self.cutout_fraction * size)), 1)
                x, y = rng.integers(0, size - side + 1, size=2)
                item["pixel_values"] = item["pixel_values"].clone()
                item["pixel_values"][:, y:y + side, x:x + side] = 0.0
        return item


class DescriptorStore:
    """Append-only float32 matrix on disk (``numpy.memmap``), so descriptors of large sets need not fit in memory."""

    def __init__(self, path, dim: int):
        self.path, self.dim, self.rows = Path(path), dim, 0
        self.path.write_bytes(b"")

    def append(self, rows: torch.Tensor) -> None:
        with self.path.open("ab") as handle:
            rows.detach().cpu().float().numpy().astype(np.float32).tofile(handle)
        self.rows += len(rows)

    def array(self) -> np.ndarray:
        if self.rows == 0:
            return np.zeros((0, self.dim), np.float32)
        return np.memmap(self.path, dtype=np.float32, mode="r", shape=(self.rows, self.dim))


@torch.no_grad()
def extract_keypoint_descriptors(model, records, processor, batch_size: int = 16, workdir=None) -> dict:
    """Detect keypoints in every record's crop; sample their descriptors there and at the mirrored location of the
    mirrored crop. Returns ``image (N,), points (N, 2) crop px, descriptors, mirror_descriptors`` (memmaps)."""
    from ...modules.images import crop_faces, image_to_tensor

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    workdir = Path(workdir or tempfile.mkdtemp(prefix="hfvid_k2l_"))
    workdir.mkdir(parents=True, exist_ok=True)
    dim = model.config.descriptor_dim
    stores = DescriptorStore(workdir / "descriptors.f32", dim), DescriptorStore(workdir / "mirror_descriptors.f32", dim)
    images, points_all = [], []
    size, grid = processor.crop_size, model.config.heatmap_size
    for start in range(0, len(records), batch_size):
        batch = [records[i] for i in range(start, min(start + batch_size, len(records)))]
        crops = torch.cat([
            crop_faces(image_to_tensor(r["image"]),
                       processor.crop_matrices(torch.as_tensor(np.asarray(r["box"], np.float32))[None]), size)
            for r in batch
        ])
        crops = processor.normalize_crops(crops).to(device)
        output = model(pixel_values=torch.cat([crops, crops.flip(-1)]))
        detection, descriptors = output.detection_map[: len(batch)], output.descriptors
        points = model.detect_keypoints(detection)
        mirrored = [torch.stack([grid - 1 - p[:, 0], p[:, 1]], dim=-1) for p in points]
        stores[0].append(torch.cat(model.sample_descriptors(descriptors[: len(batch)], points)))
        stores[1].append(torch.cat(model.sample_descriptors(descriptors[len(batch):], mirrored)))
        for offset, image_points in enumerate(points):
            images.append(np.full(len(image_points), start + offset))
            points_all.append(from_map_coords(image_points, size / grid).cpu().numpy())
    model.train(was_training)
    return {
        "image": np.concatenate(images) if images else np.zeros(0, np.int64),
        "points": np.concatenate(points_all).astype(np.float32) if points_all else np.zeros((0, 2), np.float32),
        "descriptors": stores[0].array(),
        "mirror_descriptors": stores[1].array(),
    }


def recover_correspondences_with_model(model, records, processor, seed: int = 0, batch_size: int = 16,
                                       workdir=None, n_init: int = 10, max_iter: int = 100,
                                       max_samples: int = 800_000,
                                       chunk_size: int = 4096) -> tuple[PseudoLabels, dict, Correspondences]:
    """One round of correspondence recovery: returns the M-cluster training labels, the K-landmark pseudo-labels
    per record (``{index: (K, 2) crop px, NaN = absent}``) and the raw clustering (centroids, flip permutation).
    The clustering runs on the model's device, ``chunk_size`` points at a time. The model's
    ``k_centroids``/``m_centroids`` buffers are updated."""
    config = model.config
    found = extract_keypoint_descriptors(model, records, processor, batch_size, workdir)
    if len(found["image"]) < config.num_clusters:
        raise ValueError(f"the detector found {len(found['image'])} keypoints in {len(records)} images, fewer than "
                         f"num_clusters={config.num_clusters}; train longer, lower detector_threshold or use more "
                         "images")
    result = recover_correspondences(found["image"], found["descriptors"], found["mirror_descriptors"],
                                     config.num_landmarks, config.num_clusters, config.variant, seed=seed,
                                     n_init=n_init, max_iter=max_iter, max_samples=max_samples,
                                     device=model.k_centroids.device, chunk_size=chunk_size)
    model.k_centroids.copy_(torch.as_tensor(result.k_centroids))
    model.m_centroids.copy_(torch.as_tensor(result.m_centroids))
    kept = result.m_labels >= 0
    labels = PseudoLabels(found["image"][kept], found["points"][kept], result.m_labels[kept],
                          result.m_mirror_labels[kept], clustered=True)
    landmarks = {}
    for row in np.flatnonzero(result.k_labels >= 0):
        image = int(found["image"][row])
        landmarks.setdefault(image, np.full((config.num_landmarks, 2), np.nan, np.float32))
        landmarks[image][result.k_labels[row]] = found["points"][row]
    return labels, landmarks, result


__all__ = [
    "DescriptorStore",
    "PseudoLabelViews",
    "PseudoLabels",
    "SelfTrainingPairs",
    "extract_keypoint_descriptors",
    "inverse_permutation",
    "recover_correspondences_with_model",
    "sample_pairs",
]
