"""`hfvid-face-embedding`: images (+ optional face boxes) -> one embedding vector per face.

Works with any `AutoModel` whose output has a `pooler_output` (FRL's `FaceRepresentationModel`, transformers'
ResNet/ViT/...) and an image processor; hfvid processors that take `boxes` crop each face themselves, other
processors get each box cut out of the image. Without `boxes` the faces are found by a face detector (default: the
built-in MTCNN, :mod:`hfvid.modules.face_detection`); `face_detector="full_image"` embeds the whole image (face
crops). The stock `pipeline("image-feature-extraction", model=..., pool=True)` also works on FRL models.
"""

from typing import TypedDict

import torch
import torch.nn.functional as F
from transformers.pipelines.base import ChunkPipeline

from .face_inputs import FaceInputsMixin
from ..validation import check_model_type


class FaceEmbedding(TypedDict):
    box: list[float] | None
    embedding: list[float]


def _accepts_boxes(processor) -> bool:
    import inspect

    return "boxes" in inspect.signature(processor.preprocess).parameters


class FaceEmbeddingPipeline(FaceInputsMixin, ChunkPipeline):
    """Face embeddings (pooled encoder features), L2-normalised by default.

    Each face is one chunk, so `batch_size` batches faces across images. An image whose box list is empty, or in
    which the detector finds no face, gives an empty list (no face), not an error.

    Example:

    ```python
    >>> import hfvid
    >>> from transformers import pipeline
    >>> pipe = pipeline("hfvid-face-embedding", model="path/or/hub-id")  # doctest: +SKIP
    >>> faces = pipe("photo.jpg")  # doctest: +SKIP  (one entry per detected face)
    >>> len(faces[0]["embedding"])  # doctest: +SKIP
    2048
    ```
    """

    _load_image_processor = True
    _load_processor = False
    _load_tokenizer = False
    _load_feature_extractor = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Any transformers encoder with a pooled output serves; of hfvid's own models only the face representation
        # does (the others load through AutoModel too, but their features are not face embeddings).
        model_type = getattr(self.model.config, "model_type", "") or ""
        if model_type.startswith("hfvid-") and model_type != "hfvid-face-pretraining":
            check_model_type(self.model, "hfvid-face-embedding", ["hfvid-face-pretraining"], "face representation")

    def __call__(self, images, boxes=None, **kwargs) -> list[FaceEmbedding] | list[list[FaceEmbedding]]:
        """
        Args:
            images: a path, PIL image, numpy array or tensor, a list of them, or a generator (streamed).
            boxes: face boxes `[x1, y1, x2, y2]`; for one image a list of boxes, for a list of images one list per
                image. `None`: the faces are detected.
            face_detector (*optional*, defaults to `"mtcnn"`): used when `boxes` is not given: a built-in name
                (`"mtcnn"`; `"full_image"`: the whole image is one face, box `None`), a Hub id or folder of a
                transformers object-detection model, or a callable `PIL.Image -> boxes` (`None`/`[]` = no face).
            min_score (`float`, *optional*): drop detections scoring below this (default per detector).
            max_faces (`int`, *optional*): keep at most this many detected faces per image (best scoring first).
            normalize (`bool`, *optional*, defaults to `True`): L2-normalise each embedding.
            batch_size (`int`, *optional*): faces per forward pass.

        Returns:
            per image a list of `{"box": [x1, y1, x2, y2] or None, "embedding": [...]}`.
        """
        return super().__call__(self.face_items(images, boxes), **kwargs)

    def _sanitize_parameters(self, normalize: bool | None = None, face_detector=None, min_score: float | None = None,
                             max_faces: int | None = None, **kwargs):
        from ..validation import reject_unknown_kwargs

        reject_unknown_kwargs(self.task or "hfvid-face-embedding", kwargs,
                              ("boxes", "normalize", "face_detector", "min_score", "max_faces", "batch_size",
                               "num_workers"))
        preprocess_params = self.face_detector_params(face_detector, min_score, max_faces)
        return preprocess_params, {}, ({"normalize": normalize} if normalize is not None else {})

    def preprocess(self, item, face_detector=None):
        image, source, boxes = self.image_and_boxes(item, face_detector)  # boxes None (full_image): whole image
        if boxes is None or len(boxes) == 0:
            # whole image; with an empty box list it is only a placeholder chunk that postprocess drops (no face)
            pixels = self.image_processor(source, return_tensors="pt")["pixel_values"]
            face_boxes = torch.zeros(1, 4)
        elif _accepts_boxes(self.image_processor):
            pixels = self.image_processor(source, boxes=boxes, return_tensors="pt")["pixel_values"]
            face_boxes = torch.as_tensor(boxes, dtype=torch.float64)
        else:  # a stock processor: each face cut out of the image, then processed as an image
            crops = [image.crop(tuple(round(v) for v in box)) for box in boxes]
            pixels = self.image_processor(crops, return_tensors="pt")["pixel_values"]
            face_boxes = torch.as_tensor(boxes, dtype=torch.float64)
        has_face = boxes is None or len(boxes) > 0
        for face in range(len(face_boxes)):
            yield {
                "pixel_values": pixels[face : face + 1].to(self.dtype),
                "boxes": face_boxes[face : face + 1],
                "has_face": torch.tensor([has_face]),
                "has_box": torch.tensor([boxes is not None]),
                "is_last": face == len(face_boxes) - 1,
            }

    def _forward(self, model_inputs):
        outputs = self.model(pixel_values=model_inputs["pixel_values"])
        pooled = outputs.get("pooler_output") if hasattr(outputs, "get") else None
        if pooled is None:
            raise ValueError(f"{type(self.model).__name__} returns no pooler_output; face embeddings need a pooled "
                             "image feature")
        return {"embedding": pooled.flatten(1), **{k: model_inputs[k] for k in ("boxes", "has_face", "has_box",
                                                                                "is_last")}}

    def postprocess(self, all_outputs, normalize: bool = True) -> list[FaceEmbedding]:
        results = []
        for output in all_outputs:
            if not bool(output["has_face"].reshape(-1)[0]):
                continue
            embedding = output["embedding"].float().reshape(-1)
            if normalize:
                embedding = F.normalize(embedding, dim=0)
            box = output["boxes"].reshape(-1).tolist() if bool(output["has_box"].reshape(-1)[0]) else None
            results.append({"box": box, "embedding": embedding.tolist()})
        return results


__all__ = ["FaceEmbedding", "FaceEmbeddingPipeline"]
