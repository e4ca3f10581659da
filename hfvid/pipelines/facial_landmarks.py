"""`hfvid-facial-landmarks`: images (+ face boxes or a detector) -> sub-pixel landmarks in image pixels."""

from collections.abc import Callable, Iterator
from typing import TypedDict

import torch
from transformers.pipelines.base import ChunkPipeline


def _to_pil(image):
    """The image as a PIL RGB image (what face detectors are given)."""
    if hasattr(image, "convert"):
        return image.convert("RGB")
    from PIL import Image

    from ..modules.images import image_to_tensor

    return Image.fromarray((image_to_tensor(image).permute(1, 2, 0) * 255).round().byte().numpy())


def _is_dataset(value) -> bool:
    return type(value).__name__ in ("Dataset", "IterableDataset") and hasattr(value, "__iter__")


class FaceLandmarks(TypedDict):
    box: list[float]
    landmarks: list[list[float]]
    scores: list[float]


class FacialLandmarkDetectionPipeline(ChunkPipeline):
    """Facial landmark detection with any hfvid landmark model (e.g. SH-FAN).

    Each face is one chunk, so `batch_size` batches faces across images. Without `boxes` (and without a
    `face_detector`) the whole image is taken as the face box; an image with no face (empty box list or a detector
    that finds none) gives an empty list.

    Example:

    ```python
    >>> import hfvid
    >>> from transformers import pipeline
    >>> pipe = pipeline("hfvid-facial-landmarks", model="path/or/hub-id")  # doctest: +SKIP
    >>> faces = pipe("face.jpg", boxes=[[40, 30, 210, 220]])  # doctest: +SKIP
    >>> faces[0]["landmarks"][:2]  # doctest: +SKIP
    [[63.21, 101.87], [64.05, 121.40]]
    ```
    """

    _load_image_processor = True
    _load_processor = False
    _load_tokenizer = False
    _load_feature_extractor = False

    def __call__(self, images, boxes=None, **kwargs) -> list[FaceLandmarks] | list[list[FaceLandmarks]]:
        """
        Args:
            images: a path, PIL image, numpy array or tensor, a list of them, or a generator / `datasets.Dataset`
                of them (streamed: results are yielded as they come).
            boxes: face boxes (`[x1, y1, x2, y2]`); for one image a list of boxes, for a list of images one list of
                boxes per image.
            face_detector (`Callable[[PIL.Image], list[box]]`, *optional*): called with the image as a PIL RGB image
                when `boxes` is not given.
            flip_test (`bool`, *optional*): average with the mirrored crop (default: on when the model has a mirror
                table).
            batch_size (`int`, *optional*): faces per forward pass.

        Returns:
            per image a list of faces `{"box": [x1, y1, x2, y2], "landmarks": [[x, y], ...], "scores": [...]}` in
            original-image pixels (a list of such lists for a list of images).
        """
        if isinstance(images, (list, tuple)):
            if boxes is not None and len(boxes) != len(images):
                raise ValueError(f"got {len(images)} images but boxes for {len(boxes)}; give one list of boxes per image")
            items = [{"image": image, "boxes": None if boxes is None else boxes[i]} for i, image in enumerate(images)]
        elif isinstance(images, Iterator) or _is_dataset(images):
            # streaming: a generator (e.g. video frames) or a datasets.Dataset, boxes zipped along when given
            box_stream = iter(boxes) if boxes is not None else None
            items = ({"image": image, "boxes": None if box_stream is None else next(box_stream)} for image in images)
        else:
            items = {"image": images, "boxes": boxes}
        return super().__call__(items, **kwargs)

    def _sanitize_parameters(self, face_detector: Callable | None = None, flip_test: bool | None = None, **kwargs):
        preprocess_params = {"face_detector": face_detector} if face_detector is not None else {}
        forward_params = {"flip_test": flip_test} if flip_test is not None else {}
        return preprocess_params, forward_params, {}

    def preprocess(self, item, face_detector: Callable | None = None):
        from transformers.image_utils import load_image

        image = item["image"]
        image = load_image(image) if isinstance(image, str) else image
        boxes = item["boxes"]
        if boxes is None and face_detector is not None:
            boxes = list(face_detector(_to_pil(image)))
        if boxes is not None and len(boxes) == 0:
            # No face: one placeholder chunk keeps the item in the stream; postprocess drops it.
            size = self.image_processor.crop_size
            yield {"pixel_values": torch.zeros(1, 3, size, size), "crop_matrices": torch.eye(2, 3)[None],
                   "boxes": torch.zeros(1, 4), "has_face": torch.zeros(1, dtype=torch.bool), "is_last": True}
            return
        inputs = self.image_processor(image, boxes=boxes, return_tensors="pt")
        count = len(inputs["pixel_values"])
        for face in range(count):
            yield {
                "pixel_values": inputs["pixel_values"][face : face + 1].to(self.dtype),
                "crop_matrices": inputs["crop_matrices"][face : face + 1],
                "boxes": inputs["boxes"][face : face + 1],
                "has_face": torch.ones(1, dtype=torch.bool),
                "is_last": face == count - 1,
            }

    def _forward(self, model_inputs, flip_test: bool | None = None):
        if flip_test is None:
            flip_test = getattr(self.model.config, "flip_permutation", None) is not None
        outputs = self.model(pixel_values=model_inputs["pixel_values"], flip_test=flip_test)
        return {
            "landmarks": outputs.landmarks,
            "scores": outputs.scores,
            "crop_matrices": model_inputs["crop_matrices"],
            "boxes": model_inputs["boxes"],
            "has_face": model_inputs["has_face"],
            "is_last": model_inputs["is_last"],
        }

    def postprocess(self, all_outputs) -> list[FaceLandmarks]:
        faces = [output for output in all_outputs if bool(output["has_face"].reshape(-1)[0])]
        if not faces:
            return []
        merged = {key: torch.cat([face[key] for face in faces]).float() for key in ("landmarks", "scores")}
        matrices = torch.cat([face["crop_matrices"] for face in faces]).float()
        boxes = torch.cat([face["boxes"] for face in faces])
        results = self.image_processor.post_process_facial_landmarks(
            merged, matrices, image_indices=torch.zeros(len(boxes), dtype=torch.long), boxes=boxes, num_images=1
        )[0]
        return [
            {"box": r["box"].tolist(), "landmarks": r["landmarks"].tolist(), "scores": r["scores"].tolist()}
            for r in results
        ]


__all__ = ["FaceLandmarks", "FacialLandmarkDetectionPipeline"]
