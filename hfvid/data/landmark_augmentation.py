"""Pixel-only training augmentation for landmark crops: random rectangular occlusion and Gaussian blur.

The geometric part (rotation + scale + shift as one similarity, mirror with the scheme's landmark permutation from
:data:`hfvid.modules.heatmaps.FLIP_PERMUTATIONS`) lives in :class:`hfvid.data.landmarks.LandmarkTrainingViews`, which
warps image and landmarks with one affine map. The two operations here change pixels only, so they never move a
landmark; an occluded point keeps its label (the model learns to place hidden points, as COFW asks for).

Both draw from a ``numpy.random.Generator`` so that a (seed, epoch, index) triple reproduces every crop.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def check_range(name: str, value, low: float, high: float | None = None) -> tuple[float, float]:
    """``(a, b)`` with ``low <= a <= b (<= high)``, else a ``ValueError`` naming the argument."""
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (min, max), got {value!r}") from None
    if not low <= a <= b or (high is not None and b > high):
        bound = f" and max <= {high}" if high is not None else ""
        raise ValueError(f"{name} must satisfy {low} <= min <= max{bound}, got {value!r}")
    return a, b


def check_probability(name: str, value: float) -> float:
    """``value`` as a float in [0, 1], else a ``ValueError`` naming the argument."""
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def random_occlusion(crop: torch.Tensor, rng: np.random.Generator, size_range=(0.1, 0.4)) -> torch.Tensor:
    """Fill one random rectangle of ``crop`` (3, H, W) with uniform noise (random erasing).

    Each side is ``U(size_range) * side`` pixels; the rectangle lies fully inside the crop. Returns a new tensor.
    """
    low, high = check_range("occlusion_size", size_range, 0.0, 1.0)
    _, height, width = crop.shape
    box_h = max(1, round(rng.uniform(low, high) * height))
    box_w = max(1, round(rng.uniform(low, high) * width))
    top = int(rng.integers(0, height - box_h + 1))
    left = int(rng.integers(0, width - box_w + 1))
    noise = torch.from_numpy(rng.random((crop.shape[0], box_h, box_w), dtype=np.float32)).to(crop)
    out = crop.clone()
    out[:, top:top + box_h, left:left + box_w] = noise
    return out


def gaussian_blur(crop: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur ``crop`` (3, H, W) with an isotropic Gaussian of ``sigma`` pixels (kernel 2 * ceil(3 sigma) + 1,
    reflect padding, torchvision's implementation); the blur is symmetric, so no landmark moves."""
    from torchvision.transforms.v2.functional import gaussian_blur as blur

    if sigma <= 0:
        raise ValueError(f"sigma must be > 0 pixels, got {sigma!r}")
    kernel = 2 * math.ceil(3.0 * sigma) + 1
    kernel = min(kernel, 2 * ((min(crop.shape[-2:]) - 1) // 2) + 1)  # reflect padding needs kernel // 2 < side
    return blur(crop, kernel_size=[kernel, kernel], sigma=[float(sigma), float(sigma)])


def random_blur(crop: torch.Tensor, rng: np.random.Generator, sigma_range=(0.5, 2.0)) -> torch.Tensor:
    """:func:`gaussian_blur` with ``sigma ~ U(sigma_range)`` crop pixels."""
    low, high = check_range("blur_sigma", sigma_range, 0.0)
    return gaussian_blur(crop, rng.uniform(low, high) if high > low else low)


__all__ = ["check_probability", "check_range", "gaussian_blur", "random_blur", "random_occlusion"]
