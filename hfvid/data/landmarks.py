"""Training views for landmark models: box crop + random similarity (+ mirror) and a second Siamese view.

Everything is one affine map per view, applied with the processor's exact crop, so labels follow the pixels
exactly and the map between the two views is known (it is the Siamese consistency target).
"""

import math

import numpy as np
import torch

from ..modules.images import crop_faces, image_to_tensor
from ..modules.heatmaps import apply_affine, compose_affine
from .landmark_augmentation import check_probability, check_range, random_blur, random_occlusion


def similarity_about(center: float, angle: float, scale: float, shift: tuple[float, float], mirror: bool):
    """Crop-pixel similarity (2, 3) about ``center``: optional mirror, rotation and scale, then a shift.

    With ``center = (size - 1) / 2`` the mirror is ``x -> size - 1 - x``, the centre-at-integer flip.
    """
    cos, sin = scale * math.cos(angle), scale * math.sin(angle)
    linear = torch.tensor([[cos, -sin], [sin, cos]], dtype=torch.float32)
    if mirror:
        linear = linear @ torch.tensor([[-1.0, 0.0], [0.0, 1.0]])
    c = torch.tensor([center, center])
    offset = c - linear @ c + torch.tensor(shift, dtype=torch.float32)
    return torch.cat([linear, offset[:, None]], dim=1)


class LandmarkTrainingViews(torch.utils.data.Dataset):
    """Wraps records ``{"image", "landmarks", "box"}`` into model inputs for landmark training.

    Each item: ``pixel_values`` (3, S, S) crop with a random similarity (rotation, scale, shift, optional mirror
    with the landmark permutation), ``labels`` (N, 2) in crop pixels, ``landmark_mask`` (N,), and, when
    ``second_view`` is set, ``pixel_values_transformed`` with the crop-pixel ``transform_matrix`` between views.
    With ``augment=False`` the crop is the processor's plain box crop (evaluation). ``occlusion_prob`` and
    ``blur_prob`` add the pixel-only draws of :mod:`hfvid.data.landmark_augmentation` to each augmented view
    (off by default). A record's optional ``visible`` (N,) flags become ``landmark_mask`` (mirrored with the labels).
    """

    def __init__(
        self,
        records,
        processor,
        flip_permutation: list[int] | None = None,
        augment: bool = True,
        rotation: float = 30.0,
        scale_range: tuple[float, float] = (0.75, 1.25),
        shift: float = 0.05,
        flip_prob: float = 0.5,
        color_jitter: float = 0.2,
        second_view: bool = True,
        second_view_rotation: float = 15.0,
        second_view_scale: tuple[float, float] = (0.9, 1.1),
        second_view_shift: float = 0.05,
        seed: int = 0,
        occlusion_prob: float = 0.0,
        occlusion_size: tuple[float, float] = (0.1, 0.4),
        blur_prob: float = 0.0,
        blur_sigma: tuple[float, float] = (0.5, 2.0),
    ):
        self.records = records
        self.processor = processor
        self.flip_permutation = flip_permutation
        self.augment = augment
        self.rotation, self.scale_range, self.shift, self.flip_prob = rotation, scale_range, shift, flip_prob
        self.color_jitter = color_jitter
        self.second_view = second_view and augment
        self.second_view_rotation, self.second_view_scale = second_view_rotation, second_view_scale
        self.second_view_shift = second_view_shift
        self.seed = seed
        self.epoch = 0
        self.occlusion_prob = check_probability("occlusion_prob", occlusion_prob)
        self.blur_prob = check_probability("blur_prob", blur_prob)
        self.occlusion_size = check_range("occlusion_size", occlusion_size, 0.0, 1.0)
        self.blur_sigma = check_range("blur_sigma", blur_sigma, 1e-3)

    def set_epoch(self, epoch: int) -> None:
        """Change the augmentation draw per epoch while keeping every (epoch, index) reproducible."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.records)

    def _random_similarity(self, rng, rotation, scale_range, shift, mirror):
        size = self.processor.crop_size
        angle = math.radians(rng.uniform(-rotation, rotation))
        scale = rng.uniform(*scale_range)
        offset = tuple(rng.uniform(-shift, shift, size=2) * size)
        return similarity_about((size - 1) / 2, angle, scale, offset, mirror)

    def _jitter_colors(self, rng, crop: torch.Tensor) -> torch.Tensor:
        if not self.color_jitter:
            return crop
        brightness, contrast, saturation = 1 + rng.uniform(-self.color_jitter, self.color_jitter, size=3)
        gray = crop.mean(dim=0, keepdim=True)
        crop = gray + (crop - gray) * saturation
        crop = crop.mean() + (crop - crop.mean()) * contrast
        return (crop * brightness).clamp(0, 1)

    def _corrupt_pixels(self, rng, crop: torch.Tensor) -> torch.Tensor:
        """Random occlusion and blur, each with its probability; draws nothing when both are off."""
        if self.occlusion_prob and rng.random() < self.occlusion_prob:
            crop = random_occlusion(crop, rng, self.occlusion_size)
        if self.blur_prob and rng.random() < self.blur_prob:
            crop = random_blur(crop, rng, self.blur_sigma)
        return crop

    def __getitem__(self, index: int) -> dict:
        record = self.records[index]
        image = image_to_tensor(record["image"])
        landmarks = torch.as_tensor(np.asarray(record["landmarks"], dtype=np.float32))
        box = torch.as_tensor(np.asarray(record["box"], dtype=np.float32))[None]
        base = self.processor.crop_matrices(box)[0]
        rng = np.random.default_rng((self.seed, self.epoch, index))
        perm = self.flip_permutation
        mirror = bool(self.augment and perm is not None and rng.random() < self.flip_prob)
        matrix = base
        if self.augment:
            matrix = compose_affine(self._random_similarity(rng, self.rotation, self.scale_range, self.shift, mirror), base)
        size = self.processor.crop_size
        crop = crop_faces(image, matrix[None], size)[0]
        labels = apply_affine(matrix[None], landmarks[None])[0]
        visible = record.get("visible")
        mask = torch.ones(len(labels), dtype=torch.bool) if visible is None else torch.tensor(np.asarray(visible, bool))
        if mirror:
            labels, mask = labels[perm], mask[perm]
        item = {"landmark_mask": mask}
        if self.second_view:
            transform = self._random_similarity(
                rng, self.second_view_rotation, self.second_view_scale, self.second_view_shift, False
            )
            second = crop_faces(image, compose_affine(transform, matrix)[None], size)[0]
            second = self._corrupt_pixels(rng, self._jitter_colors(rng, second))
            item["pixel_values_transformed"] = self.processor.normalize_crops(second)
            item["transform_matrix"] = transform
        if self.augment:
            crop = self._corrupt_pixels(rng, self._jitter_colors(rng, crop))
        item["pixel_values"] = self.processor.normalize_crops(crop)
        item["labels"] = labels
        return item


__all__ = ["LandmarkTrainingViews", "similarity_about"]
