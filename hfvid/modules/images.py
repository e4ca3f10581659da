"""Image helpers shared by the face methods: any image -> (3, H, W) float tensor, and affine face crops.

``image_to_tensor`` accepts paths, PIL images, numpy ``(H, W, 3)`` and torch ``(3, H, W)`` arrays (uint8 or float
in [0, 1]) and raises a ``ValueError`` naming what was expected otherwise. ``crop_faces`` resamples crops through
image -> crop affine maps (the hfvid pixel-centre convention of :mod:`hfvid.modules.heatmaps`), area-downsampling
large faces first so bilinear sampling does not alias.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .heatmaps import compose_affine, warp_affine


def image_to_tensor(image) -> torch.Tensor:
    """PIL / numpy / torch / path -> float tensor (3, H, W) in [0, 1]; clear ``ValueError`` otherwise."""
    if isinstance(image, str):
        from transformers.image_utils import load_image

        image = load_image(image)
    if hasattr(image, "convert"):  # PIL
        image = np.asarray(image.convert("RGB"))
    if isinstance(image, np.ndarray):
        channels_last = True  # numpy/PIL convention (H, W, C); torch's is (C, H, W)
        if image.dtype == np.uint8:
            tensor = torch.from_numpy(image.copy()).float() / 255.0
        elif np.issubdtype(image.dtype, np.floating):
            tensor = torch.from_numpy(image.astype(np.float32))
        else:
            raise ValueError(f"image arrays must be uint8 (0-255) or float (0-1), got dtype {image.dtype}")
    elif isinstance(image, torch.Tensor):
        channels_last = False
        tensor = image.float() / 255.0 if image.dtype == torch.uint8 else image.float()
    else:
        raise ValueError(f"expected an image as a path, PIL image, numpy array or torch tensor, got {type(image)}")
    if tensor.ndim == 2:
        tensor = tensor[None].expand(3, -1, -1)
    elif tensor.ndim == 3:
        last, first = tensor.shape[-1] in (1, 3), tensor.shape[0] in (1, 3)
        if last and (channels_last or not first):
            tensor = tensor.permute(2, 0, 1)
    if tensor.ndim != 3 or tensor.shape[0] not in (1, 3):
        raise ValueError(
            f"expected an RGB image of shape (H, W, 3) or (3, H, W) (or grayscale (H, W)), got shape {tuple(tensor.shape)}"
        )
    tensor = tensor.expand(3, -1, -1)
    if tensor.numel() and (tensor.min() < 0 or tensor.max() > 1):
        raise ValueError(
            f"float images must have values in [0, 1], got range [{tensor.min():.3g}, {tensor.max():.3g}]"
        )
    return tensor.contiguous()


def crop_faces(image: torch.Tensor, matrices: torch.Tensor, size: int) -> torch.Tensor:
    """Crops (K, 3, size, size) of ``image`` (3, H, W) through image->crop affines (K, 2, 3).

    Large faces are first area-downsampled by an integer factor (exact mapping ``(u + 0.5) / k - 0.5``) so that
    bilinear sampling does not alias.
    """
    crops = []
    for matrix in matrices:
        zoom = float(torch.linalg.det(matrix[:, :2]).abs().sqrt())  # crop pixels per image pixel
        factor = max(int(1.0 / zoom), 1) if zoom > 0 else 1
        source, effective = image[None], matrix[None]
        if factor > 1:
            height, width = image.shape[-2:]
            padded = F.pad(source, (0, -width % factor, 0, -height % factor))
            source = F.avg_pool2d(padded, factor, stride=factor)
            shift = 0.5 * factor - 0.5  # downsampled pixel v sits at image pixel factor * v + shift
            upscale = matrix.new_tensor([[factor, 0.0, shift], [0.0, factor, shift]])
            effective = compose_affine(matrix, upscale)[None]
        crops.append(warp_affine(source, effective, size))
    return torch.cat(crops) if crops else image.new_zeros(0, 3, size, size)


__all__ = ["crop_faces", "image_to_tensor"]
