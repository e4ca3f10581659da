"""Object crops in, image-pixel landmarks out, for unsupervised landmark discovery.

The crop is one exact affine map per box (hfvid's centre-at-integer convention), so landmarks map back without
rounding. Everything else (image loading, box validation, batching, ``post_process_*``) is the face-alignment
processor's, which this class extends with the two crop rules of Keypoints-to-Landmarks.
"""

from collections.abc import Sequence

import torch
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from ..subpixel_fan.image_processing_subpixel_fan import SubpixelFANImageProcessor

CROP_RULES = ("square", "celeba")


class KeypointsToLandmarksImageProcessor(SubpixelFANImageProcessor):
    r"""
    Crops each object box to a `crop_size` x `crop_size` input, [0, 1] RGB (no mean/std, as the paper).

    Crop rules (boxes are `(x1, y1, x2, y2)` inclusive pixel boxes; no box = the whole image):

    * `"square"` (default): the square of side `box_scale * (max(w, h) + 1)` around the box centre; with
      `box_scale=1` and the whole-image box of a square image the crop is the identity map.
    * `"celeba"`: the official code's CelebA rule, the box grown by `8 * delta / 100` on each side with
      `delta = 0.25 * ((1.2 * x2 - x1) + (2 * y2 - y1))` (operator precedence kept for parity), resized to a square
      (aspect not kept). The official code clips the grown box to the image; hfvid zero-pads instead, so that one
      affine map per box holds in training and inference alike.

    Args:
        crop_size (`int`, *optional*, defaults to 256): side of the network input.
        crop_rule (`str`, *optional*, defaults to `"square"`): `"square"` or `"celeba"`.
        box_scale (`float`, *optional*, defaults to 1.0): growth of the `"square"` crop around the box.
        do_normalize (`bool`, *optional*, defaults to `False`), image_mean, image_std, box_format: as in
            [`SubpixelFANImageProcessor`].
    """

    def __init__(
        self,
        crop_size: int = 256,
        crop_rule: str = "square",
        box_scale: float = 1.0,
        do_normalize: bool = False,
        image_mean: Sequence[float] = IMAGENET_DEFAULT_MEAN,
        image_std: Sequence[float] = IMAGENET_DEFAULT_STD,
        box_format: str = "xyxy",
        **kwargs,
    ):
        if crop_rule not in CROP_RULES:
            raise ValueError(f"crop_rule must be one of {CROP_RULES}, got {crop_rule!r}")
        if not box_scale > 0:
            raise ValueError(f"box_scale must be > 0, got {box_scale}")
        for unused in ("reference_scale", "center_y_offset"):  # the face-alignment rule's fields do not apply
            kwargs.pop(unused, None)
        super().__init__(crop_size=crop_size, do_normalize=do_normalize, image_mean=image_mean, image_std=image_std,
                         box_format=box_format, **kwargs)
        del self.reference_scale, self.center_y_offset
        self.crop_rule = crop_rule
        self.box_scale = box_scale

    def crop_matrices(self, boxes: torch.Tensor) -> torch.Tensor:
        """Image -> crop affine maps (K, 2, 3) of xyxy boxes (K, 4)."""
        x1, y1, x2, y2 = boxes.float().unbind(-1)
        if self.crop_rule == "square":
            side = self.box_scale * (torch.maximum(x2 - x1, y2 - y1) + 1.0)
            left, top = (x1 + x2) / 2 - side / 2, (y1 + y2) / 2 - side / 2
            zoom_x = zoom_y = self.crop_size / side
        else:
            pad = 8.0 * 0.25 * ((1.2 * x2 - x1) + (2 * y2 - y1)) / 100.0
            left, top = x1 - pad, y1 - pad
            zoom_x, zoom_y = self.crop_size / (x2 - x1 + 2 * pad), self.crop_size / (y2 - y1 + 2 * pad)
        zero = torch.zeros_like(zoom_x)
        # u' = (u - left) * zoom - 0.5 maps the region's edges onto [-0.5, crop_size - 0.5]
        rows = [torch.stack([zoom_x, zero, -left * zoom_x - 0.5], -1),
                torch.stack([zero, zoom_y, -top * zoom_y - 0.5], -1)]
        return torch.stack(rows, dim=-2)

    def post_process_landmarks(self, outputs, crop_matrices, image_indices=None, boxes=None, num_images=None):
        """Model outputs (crop pixels) -> per image a list of objects `{"box", "landmarks" (K, 2), "scores" (K,)}`
        in image pixels. Landmark ids are arbitrary but the same object part in every image."""
        return self.post_process_facial_landmarks(outputs, crop_matrices, image_indices, boxes, num_images)


__all__ = ["CROP_RULES", "KeypointsToLandmarksImageProcessor"]
