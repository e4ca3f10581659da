"""Face crops in, image-pixel landmarks out: the face-alignment crop rule as an exact, invertible affine map."""

from collections.abc import Sequence

import numpy as np
import torch
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from ...modules.heatmaps import apply_affine, invert_affine
from ...modules.images import crop_faces, image_to_tensor


class SubpixelFANImageProcessor(BaseImageProcessor):
    r"""
    Crops each face box to a square `crop_size` input with the face-alignment rule, and maps landmarks back.

    The box `(x1, y1, x2, y2)` gives the centre `((x1 + x2) / 2, (y1 + y2) / 2 - center_y_offset * (y2 - y1))` and
    the side `200 * ((x2 - x1) + (y2 - y1)) / reference_scale` of the square that is resampled to the crop. The crop
    is an affine map in the centre-at-integer convention, so the inverse is exact (no integer casts).

    Args:
        crop_size (`int`, *optional*, defaults to 256): side of the network input.
        reference_scale (`float`, *optional*, defaults to 195.0): 195 for S3FD-style boxes, 165 for tighter ones.
        center_y_offset (`float`, *optional*, defaults to 0.12): upward shift of the centre, in box heights.
        do_normalize (`bool`, *optional*, defaults to `False`): FAN uses [0, 1] RGB; `True` applies mean/std.
        image_mean (`list[float]`, *optional*), image_std (`list[float]`, *optional*): normalisation statistics.
        box_format (`str`, *optional*, defaults to `"xyxy"`): `"xyxy"` or COCO `"xywh"`.
    """

    model_input_names = ["pixel_values"]

    def __init__(
        self,
        crop_size: int = 256,
        reference_scale: float = 195.0,
        center_y_offset: float = 0.12,
        do_normalize: bool = False,
        image_mean: Sequence[float] = IMAGENET_DEFAULT_MEAN,
        image_std: Sequence[float] = IMAGENET_DEFAULT_STD,
        box_format: str = "xyxy",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if box_format not in ("xyxy", "xywh"):
            raise ValueError(f"box_format must be 'xyxy' or 'xywh', got {box_format!r}")
        self.crop_size = crop_size
        self.reference_scale = reference_scale
        self.center_y_offset = center_y_offset
        self.do_normalize = do_normalize
        self.image_mean = list(image_mean)
        self.image_std = list(image_std)
        self.box_format = box_format

    def _boxes_tensor(self, boxes, height: int, width: int) -> torch.Tensor:
        """Boxes of one image -> (K, 4) xyxy float tensor, validated against the image."""
        boxes = torch.as_tensor(np.asarray(boxes, dtype=np.float32)).reshape(-1, 4) if len(boxes) else torch.zeros(0, 4)
        if self.box_format == "xywh":
            boxes = torch.cat([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], dim=1)
        for box in boxes.tolist():
            x1, y1, x2, y2 = box
            if not (x2 > x1 and y2 > y1):
                raise ValueError(f"boxes must satisfy x2 > x1 and y2 > y1 ({self.box_format} format), got {box}")
            if x2 <= -0.5 or y2 <= -0.5 or x1 >= width - 0.5 or y1 >= height - 0.5:
                raise ValueError(f"box {box} lies entirely outside the image of size (height={height}, width={width})")
        return boxes

    def crop_matrices(self, boxes: torch.Tensor) -> torch.Tensor:
        """Image -> crop affine maps (K, 2, 3) of xyxy boxes (K, 4)."""
        x1, y1, x2, y2 = boxes.float().unbind(-1)
        cx = (x1 + x2) / 2
        cy = (y1 + y2) / 2 - self.center_y_offset * (y2 - y1)
        side = 200.0 * ((x2 - x1) + (y2 - y1)) / self.reference_scale
        zoom = self.crop_size / side
        zero = torch.zeros_like(zoom)
        # u' = (u - (c - side / 2)) * zoom - 0.5 maps [c - side/2, c + side/2] onto [-0.5, crop_size - 0.5]
        rows = [
            torch.stack([zoom, zero, (side / 2 - cx) * zoom - 0.5], -1),
            torch.stack([zero, zoom, (side / 2 - cy) * zoom - 0.5], -1),
        ]
        return torch.stack(rows, dim=-2)

    def normalize_crops(self, crops: torch.Tensor) -> torch.Tensor:
        """Apply mean/std normalisation when `do_normalize` (crops are [0, 1] RGB)."""
        if not self.do_normalize:
            return crops
        mean = crops.new_tensor(self.image_mean)[:, None, None]
        std = crops.new_tensor(self.image_std)[:, None, None]
        return (crops - mean) / std

    def preprocess(self, images, boxes=None, landmarks=None, return_tensors="pt", **kwargs) -> BatchFeature:
        r"""
        Args:
            images: one image or a list (path, PIL, numpy `(H, W, 3)` or torch `(3, H, W)`; uint8 or float in [0, 1]).
            boxes: per image a list of face boxes (`box_format`); for a single image a list of boxes or one box.
                `None` uses the whole image as one face box.
            landmarks: per image `(num_landmarks, 2)` image-pixel landmarks (one face box per image), mapped to
                crop coordinates as `labels` for training.

        Returns:
            `BatchFeature` with `pixel_values (F, 3, crop_size, crop_size)` for the F faces of all images,
            `crop_matrices (F, 2, 3)` (image -> crop), `image_indices (F,)`, `boxes (F, 4)` xyxy, and `labels
            (F, N, 2)` when landmarks are given.
        """
        single = not isinstance(images, (list, tuple))
        images = [images] if single else list(images)
        if boxes is not None and single:
            flat = np.asarray(boxes, dtype=np.float32) if len(boxes) else np.zeros((0, 4), np.float32)
            boxes = [flat.reshape(-1, 4)] if flat.size % 4 == 0 else None
            if boxes is None:
                raise ValueError("boxes must be groups of 4 numbers per face")
        if boxes is not None and len(boxes) != len(images):
            raise ValueError(f"got {len(images)} images but boxes for {len(boxes)}; give one list of boxes per image")
        tensors = [image_to_tensor(image) for image in images]
        crops, matrices, indices, all_boxes = [], [], [], []
        for index, image in enumerate(tensors):
            height, width = image.shape[-2:]
            if boxes is None:
                image_boxes = torch.tensor([[0.0, 0.0, width - 1.0, height - 1.0]])
            else:
                image_boxes = self._boxes_tensor(boxes[index], height, width)
            image_matrices = self.crop_matrices(image_boxes)
            crops.append(crop_faces(image, image_matrices, self.crop_size))
            matrices.append(image_matrices)
            indices.append(torch.full((len(image_boxes),), index, dtype=torch.long))
            all_boxes.append(image_boxes)
        data = {
            "pixel_values": self.normalize_crops(torch.cat(crops)),
            "crop_matrices": torch.cat(matrices),
            "image_indices": torch.cat(indices),
            "boxes": torch.cat(all_boxes),
        }
        if landmarks is not None:
            points = torch.as_tensor(np.asarray(landmarks, dtype=np.float32))
            points = points[None] if single and points.ndim == 2 else points
            if points.ndim != 3 or points.shape[-1] != 2 or len(points) != len(data["crop_matrices"]):
                raise ValueError(
                    f"landmarks must be one (num_landmarks, 2) array per face (one face box per image), "
                    f"got shape {tuple(points.shape)} for {len(data['crop_matrices'])} faces"
                )
            data["labels"] = apply_affine(data["crop_matrices"], points)
        return BatchFeature(data=data, tensor_type=return_tensors)

    def post_process_facial_landmarks(
        self, outputs, crop_matrices, image_indices=None, boxes=None, num_images=None
    ) -> list[list[dict]]:
        """Model outputs (crop pixels) -> per image a list of faces `{"box", "landmarks", "scores"}` in image pixels.

        Pass `image_indices` (from `preprocess`) to group faces by image; without it every face is its own image.
        `landmarks` are `(N, 2)` float tensors (sub-pixel, no rounding), `scores` `(N,)` heatmap peak values.
        """
        landmarks = outputs["landmarks"] if isinstance(outputs, dict) else outputs.landmarks
        scores = outputs["scores"] if isinstance(outputs, dict) else outputs.scores
        crop_matrices = torch.as_tensor(crop_matrices).to(landmarks)
        points = apply_affine(invert_affine(crop_matrices), landmarks)
        count = len(points)
        image_indices = torch.arange(count) if image_indices is None else torch.as_tensor(image_indices)
        num_images = int(image_indices.max()) + 1 if num_images is None and count else (num_images or 0)
        results = [[] for _ in range(num_images)]
        for face in range(count):
            record = {"landmarks": points[face], "scores": scores[face]}
            if boxes is not None:
                record["box"] = torch.as_tensor(boxes[face])
            results[int(image_indices[face])].append(record)
        return results


__all__ = ["SubpixelFANImageProcessor"]
