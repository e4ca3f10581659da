"""Training augmentation of video clips with person boxes: horizontal flip, scale jitter, colour jitter.

Every transform draws its parameters once per clip and applies them to every frame (a flipped or recoloured frame
in the middle of a clip would be a motion cue that does not exist). Built on ``torchvision.transforms.v2``, which moves
``tv_tensors.BoundingBoxes`` with the pixels:

- flip (``flip_prob``): ``x1' = W - x2, x2' = W - x1``;
- scale jitter (``scale_range``): the short side is resized by a random factor in the range (aspect kept), then a
  random crop of the original size is taken (a zoom in; factors below 1 are refused, because the crop would need
  padding). Boxes are scaled, shifted and clipped; a box keeping less than ``min_visible`` of its area is dropped
  (the BMViT spec's crop rule, 30%). ``(1, 1)`` is off;
- colour jitter (``brightness``, ``contrast``, ``saturation``, ``hue``), torchvision's ``ColorJitter`` ranges.

Clips are ``(T, H, W, 3)`` uint8 (what ``BMViTVideoProcessor`` takes) and boxes normalised ``(x1, y1, x2, y2)``
(AVA); :meth:`ClipBoxAugmentation.__call__` returns the clip, the boxes and the indices of the boxes kept, so
per-box labels can follow. Evaluation uses no augmentation: simply do not call it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2


@dataclass
class ClipBoxAugmentation:
    flip_prob: float = 0.5
    scale_range: tuple[float, float] = (1.0, 1.0)
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0
    min_visible: float = 0.3

    def __post_init__(self):
        low, high = self.scale_range
        if not 1.0 <= low <= high:
            raise ValueError(f"scale_range must satisfy 1 <= low <= high (a zoom in), got {self.scale_range}")
        if not 0.0 <= self.flip_prob <= 1.0 or not 0.0 <= self.min_visible <= 1.0:
            raise ValueError(f"flip_prob and min_visible must be in [0, 1], got {self.flip_prob}, {self.min_visible}")
        if not 0.0 <= self.hue <= 0.5 or min(self.brightness, self.contrast, self.saturation) < 0:
            raise ValueError("brightness, contrast, saturation must be >= 0 and hue in [0, 0.5], got "
                             f"{self.brightness}, {self.contrast}, {self.saturation}, {self.hue}")

    def __call__(self, clip, boxes, generator: torch.Generator | None = None):
        """Augment one clip. ``generator`` (a seeded ``torch.Generator``) makes the draw reproducible.

        Returns ``(clip (T, H, W, 3) uint8 numpy, boxes (K, 4) normalised float32, kept (K,) indices into boxes)``.
        """
        clip = np.asarray(clip)
        if clip.ndim != 4 or clip.shape[-1] != 3:
            raise ValueError(f"clip must be (frames, height, width, 3), got shape {clip.shape}")
        height, width = clip.shape[1:3]
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        video = tv_tensors.Video(torch.from_numpy(np.ascontiguousarray(clip)).permute(0, 3, 1, 2))
        pixels = tv_tensors.BoundingBoxes(torch.from_numpy(boxes * [width, height, width, height]),
                                          format="XYXY", canvas_size=(height, width))
        area = (pixels[:, 2] - pixels[:, 0]) * (pixels[:, 3] - pixels[:, 1])

        def draw():  # a uniform number from the shared generator
            return float(torch.rand((), generator=generator))

        if draw() < self.flip_prob:
            video, pixels = v2.functional.horizontal_flip(video), v2.functional.horizontal_flip(pixels)
        low, high = self.scale_range
        if high > 1.0:
            scale = low + (high - low) * draw()
            size = [round(height * scale), round(width * scale)]
            video = v2.functional.resize(video, size, antialias=True)
            pixels = v2.functional.resize(pixels, size)
            top, left = round((size[0] - height) * draw()), round((size[1] - width) * draw())
            video = v2.functional.crop(video, top, left, height, width)
            pixels = v2.functional.crop(pixels, top, left, height, width)  # clamps to the new canvas
            area = area * scale * scale
        if max(self.brightness, self.contrast, self.saturation, self.hue) > 0:
            video = self._colour(video, draw)
        new_area = (pixels[:, 2] - pixels[:, 0]) * (pixels[:, 3] - pixels[:, 1])
        kept = torch.nonzero((new_area > 0) & (new_area >= self.min_visible * area)).flatten()
        out = pixels[kept].as_subclass(torch.Tensor).numpy() / np.array([width, height, width, height], np.float32)
        clip = video.as_subclass(torch.Tensor).permute(0, 2, 3, 1).contiguous().numpy()
        return clip, np.clip(out, 0.0, 1.0).astype(np.float32), kept.numpy()

    def _colour(self, video, draw):
        """Brightness, contrast, saturation, hue with factors drawn once, in a random order (ColorJitter's rule)."""
        functional = v2.functional
        steps = [(functional.adjust_brightness, self.brightness, 1.0), (functional.adjust_contrast, self.contrast, 1.0),
                 (functional.adjust_saturation, self.saturation, 1.0), (functional.adjust_hue, self.hue, 0.0)]
        order = sorted(range(4), key=lambda _: draw())
        for index in order:
            adjust, strength, centre = steps[index]
            if strength > 0:
                low = max(0.0, centre - strength) if centre == 1.0 else -strength
                video = adjust(video, low + (centre + strength - low) * draw())
        return video


__all__ = ["ClipBoxAugmentation"]
