"""`hfvid-facial-landmarks`: images (+ face boxes or a detector) -> sub-pixel landmarks in image pixels."""

from collections.abc import Callable
from typing import TypedDict

import torch
from transformers.pipelines.base import ChunkPipeline

from .face_inputs import FaceInputsMixin


class FaceLandmarks(TypedDict):
    box: list[float]
    landmarks: list[list[float]]
    scores: list[float]


class FacialLandmarkDetectionPipeline(FaceInputsMixin, ChunkPipeline):
    """Facial landmark detection with any hfvid landmark model (e.g. SH-FAN).

    Each face is one chunk, so `batch_size` batches faces across images. Without `boxes` the faces are found by a
    face detector (default: the built-in MTCNN, see :mod:`hfvid.modules.face_detection`); an image with no face
    (empty box list or a detector that finds none) gives an empty list. For images that are already face crops pass
    `face_detector="full_image"` (the whole image is the face box).

    Example:

    ```python
    >>> import hfvid
    >>> from transformers import pipeline
    >>> pipe = pipeline("hfvid-facial-landmarks", model="path/or/hub-id")  # doctest: +SKIP
    >>> faces = pipe("photo.jpg")  # doctest: +SKIP  (faces found by the built-in detector)
    >>> faces[0]["landmarks"][:2]  # doctest: +SKIP
    [[63.21, 101.87], [64.05, 121.40]]
    >>> faces = pipe("photo.jpg", boxes=[[40, 30, 210, 220]])  # doctest: +SKIP  (your own boxes)
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
                boxes per image. Not given: the faces are detected.
            face_detector (*optional*, defaults to `"mtcnn"`): used when `boxes` is not given: a built-in name
                (`"mtcnn"`; `"full_image"` takes the whole image as the face, for face crops), a Hub id or folder of
                a transformers object-detection model, or a callable `PIL.Image -> boxes` (`None`/`[]` = no face;
                boxes, `(K, 5)` arrays or object-detection dicts, see `hfvid.modules.face_detection`).
            min_score (`float`, *optional*): drop detections scoring below this (default per detector).
            max_faces (`int`, *optional*): keep at most this many detected faces per image (best scoring first).
            flip_test (`bool`, *optional*): average with the mirrored crop (default: on when the model has a mirror
                table).
            batch_size (`int`, *optional*): faces per forward pass.

        Returns:
            per image a list of faces `{"box": [x1, y1, x2, y2], "landmarks": [[x, y], ...], "scores": [...]}` in
            original-image pixels (a list of such lists for a list of images).
        """
        return super().__call__(self.face_items(images, boxes), **kwargs)

    # smallest image side accepted: a 1x1 "image" has no face to find
    MIN_IMAGE_SIZE = 8

    def _sanitize_parameters(self, face_detector=None, min_score: float | None = None, max_faces: int | None = None,
                             flip_test: bool | None = None, **kwargs):
        from ..validation import reject_unknown_kwargs

        reject_unknown_kwargs(self.task or "hfvid-facial-landmarks", kwargs,
                              ("boxes", "face_detector", "min_score", "max_faces", "flip_test", "batch_size",
                               "num_workers"))
        preprocess_params = self.face_detector_params(face_detector, min_score, max_faces)
        forward_params = {"flip_test": flip_test} if flip_test is not None else {}
        return preprocess_params, forward_params, {}

    def preprocess(self, item, face_detector: Callable | None = None):
        # boxes None (full_image): the processor's own whole-image box
        _, pixels, boxes = self.image_and_boxes(item, face_detector, min_size=self.MIN_IMAGE_SIZE)
        if boxes is not None and len(boxes) == 0:
            # No face: one placeholder chunk keeps the item in the stream; postprocess drops it.
            size = self.image_processor.crop_size
            yield {"pixel_values": torch.zeros(1, 3, size, size), "crop_matrices": torch.eye(2, 3)[None],
                   "boxes": torch.zeros(1, 4), "has_face": torch.zeros(1, dtype=torch.bool), "is_last": True}
            return
        inputs = self.image_processor(pixels, boxes=boxes, return_tensors="pt")
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
