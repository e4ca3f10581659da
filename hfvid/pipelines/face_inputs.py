"""What the image face pipelines share: images + boxes -> per-image items, and the face detector options.

`hfvid-facial-landmarks`, `hfvid-unsupervised-landmarks` and `hfvid-face-embedding` take the same inputs (one image,
a list, a generator or a `datasets.Dataset`, with optional boxes per image) and the same detector keywords
(`face_detector`, `min_score`, `max_faces`); this mixin is the one place that reads them.
"""

from collections.abc import Iterator

import numpy as np
import torch


def _is_dataset(value) -> bool:
    return type(value).__name__ in ("Dataset", "IterableDataset") and hasattr(value, "__iter__")


class FaceInputsMixin:
    """Mixed into a transformers ``ChunkPipeline`` whose items are ``{"image", "boxes"}`` dicts."""

    @staticmethod
    def face_items(images, boxes):
        """One item per image: a list for a list of images, a lazy generator for a stream, a dict for one image."""
        if isinstance(images, (list, tuple)):
            if not images:
                raise ValueError("images: got an empty list (expected at least one image)")
            if boxes is not None and len(boxes) != len(images):
                raise ValueError(f"got {len(images)} images but boxes for {len(boxes)}; give one list of boxes per image")
            return [{"image": image, "boxes": None if boxes is None else boxes[i]} for i, image in enumerate(images)]
        if isinstance(images, Iterator) or _is_dataset(images):
            # streaming: a generator (e.g. video frames) or a datasets.Dataset, boxes zipped along when given
            box_stream = iter(boxes) if boxes is not None else None
            return ({"image": image, "boxes": None if box_stream is None else next(box_stream)} for image in images)
        return {"image": images, "boxes": boxes}

    def image_and_boxes(self, item, face_detector=None, min_size: int = 2):
        """One item -> (PIL image, what the processor gets, boxes): given boxes validated (as a ``(K, 4)`` list),
        else the detector's boxes, or ``None`` for ``face_detector="full_image"`` (the whole image is the face)."""
        from ..validation import check_boxes, load_image

        image = load_image(item["image"], "images", min_size=min_size)
        # arrays go to the processor as given (float images keep their precision); detectors see the PIL image
        source = item["image"] if isinstance(item["image"], (np.ndarray, torch.Tensor)) else image
        boxes = item["boxes"]
        if boxes is not None:
            return image, source, check_boxes(boxes, image.width, image.height, "boxes").tolist()
        face_detector = face_detector or self._default_face_detector()
        if face_detector.name == "full_image":
            return image, source, None
        return image, source, [face["box"] for face in face_detector(image)]

    def face_detector_params(self, face_detector=None, min_score=None, max_faces=None) -> dict:
        """``{"face_detector": detector}`` when any detector option is given, else ``{}`` (the default, lazily)."""
        if face_detector is None and min_score is None and max_faces is None:
            return {}
        from ..modules.face_detection import resolve_face_detector

        return {"face_detector": resolve_face_detector(face_detector, min_score=min_score, max_faces=max_faces,
                                                       device=self.device)}

    def _default_face_detector(self):
        """The built-in default detector, loaded on first use."""
        if getattr(self, "_face_detector", None) is None:
            from ..modules.face_detection import resolve_face_detector

            self._face_detector = resolve_face_detector(None, device=self.device)
        return self._face_detector


__all__ = ["FaceInputsMixin"]
