"""FRL preprocessing: optional square crop around a face box (with a margin), resize, rescale, normalise."""

from collections.abc import Sequence

import numpy as np
import torch
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature

from ...modules.images import crop_faces, image_to_tensor
from ..subpixel_fan.image_processing_subpixel_fan import SubpixelFANImageProcessor
from .configuration_face_pretraining import FRL_IMAGE_MEAN, FRL_IMAGE_STD


class FaceRepresentationImageProcessor(BaseImageProcessor):
    r"""
    Face crops for the FRL encoder and its task heads.

    With a box `(x1, y1, x2, y2)` the crop is the square of side `margin * max(w, h)` centred on the box, resampled
    (bilinear, anti-aliased for large faces) to `image_size`; without a box the whole image is resized (stretched)
    to `image_size` x `image_size`. Pixels are scaled to [0, 1], then normalised with `image_mean` / `image_std`
    (FRL/SwAV values by default, first std 0.228 as in the released code). Every crop is an affine image -> crop
    map returned as `crop_matrices`, so crop-pixel predictions map back to the image exactly.

    Args:
        image_size (`int`, *optional*, defaults to 224): side of the output crops.
        margin (`float`, *optional*, defaults to 1.2): crop side over the box's longer side *[reading]*.
        do_normalize (`bool`, *optional*, defaults to `True`): apply `image_mean` / `image_std`.
        image_mean (`list[float]`, *optional*), image_std (`list[float]`, *optional*): normalisation statistics.
        box_format (`str`, *optional*, defaults to `"xyxy"`): `"xyxy"` or COCO `"xywh"`.
    """

    model_input_names = ["pixel_values"]

    def __init__(self, image_size: int = 224, margin: float = 1.2, do_normalize: bool = True,
                 image_mean: Sequence[float] = FRL_IMAGE_MEAN, image_std: Sequence[float] = FRL_IMAGE_STD,
                 box_format: str = "xyxy", **kwargs):
        super().__init__(**kwargs)
        if box_format not in ("xyxy", "xywh"):
            raise ValueError(f"box_format must be 'xyxy' or 'xywh', got {box_format!r}")
        if not image_size > 0 or not margin > 0:
            raise ValueError(f"image_size and margin must be > 0, got {image_size} and {margin}")
        self.image_size, self.margin, self.do_normalize = image_size, margin, do_normalize
        self.image_mean, self.image_std, self.box_format = list(image_mean), list(image_std), box_format

    @property
    def crop_size(self) -> int:
        """Side of the crops (the landmark processors' name for `image_size`)."""
        return self.image_size

    def crop_matrices(self, boxes: torch.Tensor) -> torch.Tensor:
        """Image -> crop affines (K, 2, 3) of the margin-expanded squares around xyxy `boxes` (K, 4)."""
        x1, y1, x2, y2 = boxes.float().unbind(-1)
        side = self.margin * torch.maximum(x2 - x1, y2 - y1)
        zoom = self.image_size / side
        zero = torch.zeros_like(zoom)
        # [c - side/2, c + side/2] (pixel edges) -> [-0.5, image_size - 0.5]
        tx = (side / 2 - (x1 + x2) / 2) * zoom - 0.5
        ty = (side / 2 - (y1 + y2) / 2) * zoom - 0.5
        return torch.stack([torch.stack([zoom, zero, tx], -1), torch.stack([zero, zoom, ty], -1)], -2)

    def _whole_image_matrix(self, height: int, width: int) -> torch.Tensor:
        sx, sy = self.image_size / width, self.image_size / height
        return torch.tensor([[[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]]])

    def _boxes(self, boxes, height: int, width: int) -> torch.Tensor:
        array = np.asarray(boxes, dtype=np.float32)
        if array.size % 4:
            raise ValueError(f"boxes must be groups of 4 numbers ({self.box_format}), got shape {array.shape}")
        tensor = torch.from_numpy(array.reshape(-1, 4))
        if self.box_format == "xywh":
            tensor = torch.cat([tensor[:, :2], tensor[:, :2] + tensor[:, 2:]], 1)
        bad = (tensor[:, 2] <= tensor[:, 0]) | (tensor[:, 3] <= tensor[:, 1])
        if bad.any():
            raise ValueError(f"boxes must satisfy x2 > x1 and y2 > y1, got {tensor[bad].tolist()}")
        return tensor

    def preprocess(self, images, boxes=None, return_tensors="pt", **kwargs) -> BatchFeature:
        r"""
        Args:
            images: one image or a list (path, PIL, numpy `(H, W, 3)` or torch `(3, H, W)`; uint8 or float in [0, 1]).
            boxes: per image a list of face boxes; for a single image a list of boxes or one box. `None`: the whole
                image is the face.

        Returns:
            `BatchFeature` with `pixel_values (F, 3, image_size, image_size)` for the F faces of all images,
            `crop_matrices (F, 2, 3)` (image -> crop), `image_indices (F,)` and `boxes (F, 4)` xyxy (the whole
            image `[0, 0, W - 1, H - 1]` when no box is given).
        """
        single = not isinstance(images, (list, tuple))
        images = [images] if single else list(images)
        if boxes is not None and single:
            boxes = [boxes]
        if boxes is not None and len(boxes) != len(images):
            raise ValueError(f"got {len(images)} images but boxes for {len(boxes)}; give one list of boxes per image")
        crops, matrices, indices, all_boxes = [], [], [], []
        for index, image in enumerate(images):
            tensor = image_to_tensor(image)
            height, width = tensor.shape[-2:]
            if boxes is None or boxes[index] is None:
                image_matrices = self._whole_image_matrix(height, width)
                image_boxes = torch.tensor([[0.0, 0.0, width - 1.0, height - 1.0]])
            else:
                image_boxes = self._boxes(boxes[index], height, width)
                image_matrices = self.crop_matrices(image_boxes)
            crops.append(crop_faces(tensor, image_matrices, self.image_size))
            matrices.append(image_matrices)
            indices.append(torch.full((len(image_matrices),), index, dtype=torch.long))
            all_boxes.append(image_boxes)
        pixels = torch.cat(crops)
        if self.do_normalize:
            mean = pixels.new_tensor(self.image_mean)[:, None, None]
            pixels = (pixels - mean) / pixels.new_tensor(self.image_std)[:, None, None]
        data = {"pixel_values": pixels, "crop_matrices": torch.cat(matrices), "image_indices": torch.cat(indices),
                "boxes": torch.cat(all_boxes)}
        return BatchFeature(data=data, tensor_type=return_tensors)

    # crop-pixel landmarks -> image pixels, exactly as the face-alignment processor (the same crop-matrix contract)
    post_process_facial_landmarks = SubpixelFANImageProcessor.post_process_facial_landmarks


__all__ = ["FaceRepresentationImageProcessor"]
