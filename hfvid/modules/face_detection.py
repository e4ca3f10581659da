"""Face detection for the face pipelines: faces found in a photo, not given by the user.

:func:`resolve_face_detector` turns what a pipeline's ``face_detector=`` received into one callable
``image -> [{"box": [x1, y1, x2, y2], "score": s}, ...]`` (image pixels, sorted by score, best first):

- ``None`` or ``"mtcnn"`` (the default): the built-in MTCNN cascade (Zhang et al., 2016) with its real weights,
  shipped in ``hfvid/modules/weights/mtcnn.safetensors`` (2 MB, MIT: converted from the ``facenet-pytorch`` 2.6.0
  wheel, see ``weights/MTCNN_LICENSE.md``), so it runs offline right after install with nothing extra to install.
- ``"full_image"``: the whole image is one face (for images that are already face crops).
- a Hub id or local folder of a transformers object-detection model, run through the stock ``object-detection``
  pipeline (every detected object counts as a face: use a face detection model).
- a callable ``PIL.Image -> detections`` in any form :func:`normalize_detections` reads.

:class:`FaceTracker` serves video: it detects every ``detect_every`` frames and matches faces between detections
by IoU, so a face keeps an integer ``face_id`` across frames.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT_FACE_DETECTOR = "mtcnn"
BUILTIN_FACE_DETECTORS = ("mtcnn", "full_image")
# Score floor per kind of detector when the caller gives none. MTCNN's is its final-stage probability; measured on
# scikit-image's LFW subset (faces upscaled to 100 px): recall 98% and no hit on the 100 non-face patches at 0.96,
# and the cameraman's ear (a false face at 0.952 next to his real one at 0.9996) is dropped.
DEFAULT_MIN_SCORES = {"mtcnn": 0.96, "full_image": 0.0, "object-detection": 0.5, "callable": 0.0}
WEIGHTS_PATH = os.path.join(os.path.dirname(__file__), "weights", "mtcnn.safetensors")


# ----------------------------------------------------------------------------------------------------------------
# Output normalisation


def _as_image(image):
    """PIL / numpy / torch image -> PIL RGB image (what detectors are given)."""
    from PIL import Image

    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    from ..validation import load_image

    return load_image(image, "image")


def normalize_detections(output, width: float, height: float, argument: str = "face_detector") -> list[dict]:
    """A detector's output -> ``[{"box": [x1, y1, x2, y2], "score": s}, ...]`` sorted by score (best first).

    Accepts ``None`` (no face), ``[]``, one box ``[x1, y1, x2, y2]``, a list of boxes (score 1.0), ``(K, 4)`` or
    ``(K, 5)`` arrays/tensors (5th column: score), dicts ``{"box": [x1, y1, x2, y2] or {"xmin", "ymin", "xmax",
    "ymax"}, "score": s}`` (transformers' ``object-detection`` output) or a list of them. Boxes are checked with
    :func:`hfvid.validation.check_boxes` (finite, not reversed, not wholly outside the image).
    """
    from ..validation import check_boxes

    if output is None:
        return []
    if isinstance(output, dict):
        output = [output]
    extras: list[dict] = []
    if isinstance(output, (list, tuple)) and output and all(isinstance(item, dict) for item in output):
        boxes, scores = [], []
        for index, item in enumerate(output):
            box = item.get("box")
            if isinstance(box, dict):
                try:
                    box = [box["xmin"], box["ymin"], box["xmax"], box["ymax"]]
                except KeyError:
                    raise ValueError(f"{argument}: detection {index} has a box dict without xmin/ymin/xmax/ymax: "
                                     f"{item!r}") from None
            if box is None:
                raise ValueError(f"{argument}: detection {index} has no 'box': {item!r} (expected {{'box': "
                                 "[x1, y1, x2, y2], 'score': s}} or transformers object-detection output)")
            boxes.append(box)
            scores.append(item.get("score", 1.0))
            extras.append({key: value for key, value in item.items() if key not in ("box", "score")})
        checked = check_boxes(boxes, width, height, argument)
        scores = np.asarray(scores, dtype=np.float64) if scores else np.zeros(0)
    else:
        if isinstance(output, torch.Tensor):
            output = output.detach().cpu().numpy()
        array = np.asarray(output, dtype=object if not isinstance(output, np.ndarray) else None)
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{argument}: expected None, boxes [[x1, y1, x2, y2], ...], a (K, 4)/(K, 5) array or "
                             f"object-detection dicts, got {output!r}") from None
        if array.size == 0:
            return []
        if array.ndim == 1:
            array = array[None]
        if array.ndim != 2 or array.shape[1] not in (4, 5):
            raise ValueError(f"{argument}: expected boxes of shape (K, 4) or (K, 5) (x1, y1, x2, y2[, score]), got "
                             f"shape {array.shape}")
        checked = check_boxes(array[:, :4], width, height, argument)
        scores = array[:, 4] if array.shape[1] == 5 else np.ones(len(array))
        extras = [{} for _ in range(len(array))]
    if not np.isfinite(scores).all():
        raise ValueError(f"{argument}: detection scores must be finite numbers, got {scores.tolist()}")
    order = np.argsort(-scores, kind="stable")
    return [{"box": checked[i].tolist(), "score": float(scores[i]), **extras[i]} for i in order]


def _filter(detections: list[dict], min_score: float, max_faces: int | None) -> list[dict]:
    kept = [d for d in detections if d["score"] >= min_score]
    return kept if max_faces is None else kept[:max_faces]


# ----------------------------------------------------------------------------------------------------------------
# MTCNN (P-Net -> R-Net -> O-Net), written for torch; parameter names match the shipped safetensors file.


class _PNet(nn.Module):
    """Fully convolutional 12x12 proposal net: face probability and box offsets on a stride-2 grid."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1, self.conv4_2 = nn.Conv2d(32, 2, 1), nn.Conv2d(32, 4, 1)

    def forward(self, x):
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 2, 2, ceil_mode=True)
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_1(x).softmax(1)[:, 1], self.conv4_2(x)


class _RNet(nn.Module):
    """24x24 refinement net."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1, self.dense5_2 = nn.Linear(128, 2), nn.Linear(128, 4)

    def forward(self, x):
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = self.prelu3(self.conv3(x))
        # The weights come from a column-major (Caffe) model: flatten in (W, H, C) order.
        x = self.prelu4(self.dense4(x.permute(0, 3, 2, 1).flatten(1)))
        return self.dense5_1(x).softmax(1)[:, 1], self.dense5_2(x)


class _ONet(nn.Module):
    """48x48 output net: probability, box offsets and five landmarks."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1, self.dense6_2, self.dense6_3 = nn.Linear(256, 2), nn.Linear(256, 4), nn.Linear(256, 10)

    def forward(self, x):
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu3(self.conv3(x)), 2, 2, ceil_mode=True)
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(x.permute(0, 3, 2, 1).flatten(1)))
        return self.dense6_1(x).softmax(1)[:, 1], self.dense6_2(x), self.dense6_3(x)


def _regress(boxes: torch.Tensor, offsets: torch.Tensor, plus_one: bool = True) -> torch.Tensor:
    """Apply MTCNN box offsets (fractions of the box size) to (N, 4) boxes."""
    size = boxes[:, 2:4] - boxes[:, 0:2] + (1.0 if plus_one else 0.0)
    return boxes + offsets * size.repeat(1, 2)


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Grow each box to a square around its centre (the nets see square crops)."""
    size = boxes[:, 2:4] - boxes[:, 0:2]
    side = size.max(1).values[:, None]
    top_left = boxes[:, 0:2] + size * 0.5 - side * 0.5
    return torch.cat([top_left, top_left + side], 1)


def _nms_min(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """NMS with overlap = intersection / smaller area (MTCNN's last step: drops boxes nested in a face)."""
    order = scores.argsort(descending=True)
    area = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    keep = []
    while len(order):
        i, rest = order[0], order[1:]
        keep.append(int(i))
        top_left = torch.maximum(boxes[i, :2], boxes[rest, :2])
        bottom_right = torch.minimum(boxes[i, 2:], boxes[rest, 2:])
        inter = (bottom_right - top_left + 1).clamp(min=0).prod(1)
        order = rest[inter / torch.minimum(area[i], area[rest]) <= threshold]
    return torch.as_tensor(keep, dtype=torch.long)


class MTCNNFaceDetector(nn.Module):
    """The MTCNN cascade (Zhang, Zhang, Li & Qiao, IEEE SPL 2016): faces down to ``min_face_size`` pixels.

    Boxes follow MTCNN's inclusive 1-based pixel convention inside; :meth:`detect` returns them as image-pixel
    edges ``[x1, y1, x2, y2]`` with the O-Net probability as score and the five O-Net points (eyes, nose tip,
    mouth corners) as ``"keypoints"``.
    """

    def __init__(self, min_face_size: int = 20, thresholds=(0.6, 0.7, 0.7), scale_factor: float = 0.709):
        super().__init__()
        self.pnet, self.rnet, self.onet = _PNet(), _RNet(), _ONet()
        self.min_face_size, self.thresholds, self.scale_factor = min_face_size, tuple(thresholds), scale_factor

    @classmethod
    def from_pretrained(cls, path: str = WEIGHTS_PATH, **kwargs) -> MTCNNFaceDetector:
        from safetensors.torch import load_file

        detector = cls(**kwargs)
        detector.load_state_dict(load_file(path))
        return detector.eval().requires_grad_(False)

    @staticmethod
    def _normalize(pixels: torch.Tensor) -> torch.Tensor:
        return (pixels - 127.5) * 0.0078125

    def _crops(self, pixels: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
        """Square crops (N, 3, size, size) of inclusive 1-based boxes, zero outside the image, box-averaged."""
        from torchvision.ops import roi_align

        edges = torch.cat([boxes[:, :2] - 1, boxes[:, 2:4]], 1)  # pixel i spans [i, i + 1]
        rois = torch.cat([torch.zeros(len(edges), 1, dtype=edges.dtype, device=edges.device), edges], 1)
        crops = roi_align(pixels, rois, size, spatial_scale=1.0, sampling_ratio=-1, aligned=False)
        return self._normalize(crops)

    @torch.no_grad()
    def detect(self, image) -> list[dict]:
        """One RGB image (PIL or (H, W, 3) uint8) -> detections sorted by score."""
        from torchvision.ops import batched_nms, nms

        device = self.pnet.conv1.weight.device
        array = np.asarray(image, dtype=np.float32)
        pixels = torch.from_numpy(array).permute(2, 0, 1)[None].to(device)
        height, width = array.shape[:2]
        t1, t2, t3 = self.thresholds

        # Stage 1: P-Net over a scale pyramid; candidates in image pixels.
        candidates, levels = [], []
        scale = 12.0 / self.min_face_size
        side = min(height, width) * scale
        level = 0
        while side >= 12:
            resized = F.interpolate(pixels, size=(int(height * scale + 1), int(width * scale + 1)), mode="area")
            prob, offsets = self.pnet(self._normalize(resized))
            ys, xs = torch.nonzero(prob[0] >= t1, as_tuple=True)
            if len(ys):
                grid = torch.stack([xs, ys], 1).float()
                boxes = torch.cat([((2 * grid + 1) / scale).floor(), ((2 * grid + 12) / scale).floor()], 1)
                found = torch.cat([boxes, prob[0, ys, xs][:, None], offsets[0, :, ys, xs].T], 1)
                candidates.append(found[nms(found[:, :4], found[:, 4], 0.5)])
                levels.append(torch.full((len(candidates[-1]),), level, device=device))
            scale *= self.scale_factor
            side *= self.scale_factor
            level += 1
        if not candidates:
            return []
        found = torch.cat(candidates)
        found = found[batched_nms(found[:, :4], found[:, 4], torch.zeros_like(torch.cat(levels)), 0.7)]
        boxes = _square(_regress(found[:, :4], found[:, 5:9], plus_one=False))

        # Stage 2: R-Net refines and rejects.
        prob, offsets = self.rnet(self._crops(pixels, boxes, 24))
        keep = prob >= t2
        boxes, prob, offsets = boxes[keep], prob[keep], offsets[keep]
        if not len(boxes):
            return []
        keep = nms(boxes, prob, 0.7)
        boxes = _square(_regress(boxes[keep], offsets[keep]))

        # Stage 3: O-Net gives the final score, box and five points.
        prob, offsets, points = self.onet(self._crops(pixels, boxes, 48))
        keep = prob >= t3
        boxes, prob, offsets, points = boxes[keep], prob[keep], offsets[keep], points[keep]
        if not len(boxes):
            return []
        size = boxes[:, 2:4] - boxes[:, 0:2] + 1
        keypoints = torch.stack([boxes[:, 0:1] + size[:, 0:1] * points[:, :5],
                                 boxes[:, 1:2] + size[:, 1:2] * points[:, 5:]], 2) - 1
        boxes = _regress(boxes, offsets)
        keep = _nms_min(boxes, prob, 0.7)
        edges = torch.cat([boxes[:, :2] - 1, boxes[:, 2:4]], 1)  # inclusive 1-based -> pixel edges
        detections = [{"box": edges[i].tolist(), "score": float(prob[i]), "keypoints": keypoints[i].tolist()}
                      for i in keep.tolist()]
        return sorted(detections, key=lambda d: -d["score"])


_MTCNN_CACHE: dict[str, MTCNNFaceDetector] = {}


def _mtcnn(device) -> MTCNNFaceDetector:
    key = str(torch.device(device))
    if key not in _MTCNN_CACHE:
        _MTCNN_CACHE[key] = MTCNNFaceDetector.from_pretrained().to(device)
    return _MTCNN_CACHE[key]


# ----------------------------------------------------------------------------------------------------------------
# Resolution of `face_detector=`


class FaceDetector:
    """``image -> [{"box", "score", ...}]`` with the score floor and face limit applied; see the module doc."""

    def __init__(self, detect: Callable, name: str, min_score: float, max_faces: int | None, normalize: bool):
        self._detect, self.name, self.min_score, self.max_faces = detect, name, min_score, max_faces
        self._normalize = normalize

    def __call__(self, image) -> list[dict]:
        image = _as_image(image)
        output = self._detect(image)
        if self._normalize:
            output = normalize_detections(output, image.width, image.height)
        return _filter(output, self.min_score, self.max_faces)

    def __repr__(self):
        return f"FaceDetector({self.name!r}, min_score={self.min_score}, max_faces={self.max_faces})"


def _object_detection(model: str, device, threshold: float) -> Callable:
    """A transformers object-detection model (Hub id or folder) through the stock pipeline."""
    from transformers import pipeline

    detector = pipeline("object-detection", model=model, device=device)
    return lambda image: detector(image, threshold=threshold)


def resolve_face_detector(spec=None, *, min_score: float | None = None, max_faces: int | None = None,
                          device=None) -> FaceDetector:
    """What ``face_detector=`` received -> a :class:`FaceDetector`.

    Args:
        spec: ``None`` (the default detector, ``"mtcnn"``), a built-in name (``"mtcnn"``, ``"full_image"``), a Hub
            id or local folder of a transformers object-detection model, a callable ``PIL.Image -> detections``
            (any form :func:`normalize_detections` reads), or an existing :class:`FaceDetector`.
        min_score: drop detections scoring below this (default per kind: ``DEFAULT_MIN_SCORES``).
        max_faces: keep at most this many faces per image (the best scoring).
        device: where the built-in and transformers detectors run (default: CPU).
    """
    from ..validation import check_positive_int

    if min_score is not None and (isinstance(min_score, bool) or not isinstance(min_score, (int, float))
                                  or not np.isfinite(min_score)):
        raise ValueError(f"min_score: expected a finite number, got {min_score!r}")
    max_faces = check_positive_int(max_faces, "max_faces", optional=True)
    if isinstance(spec, FaceDetector):
        if min_score is None and max_faces is None:
            return spec
        return FaceDetector(spec._detect, spec.name, spec.min_score if min_score is None else float(min_score),
                            spec.max_faces if max_faces is None else max_faces, spec._normalize)
    device = torch.device("cpu" if device is None else device)
    spec = DEFAULT_FACE_DETECTOR if spec is None else spec
    if callable(spec):
        kind, name, detect, normalize = "callable", getattr(spec, "__name__", type(spec).__name__), spec, True
    elif isinstance(spec, (str, os.PathLike)):
        name = os.fspath(spec)
        if name == "mtcnn":
            kind, detect, normalize = "mtcnn", _mtcnn(device).detect, False
        elif name == "full_image":
            kind, normalize = "full_image", False
            detect = lambda image: [{"box": [0.0, 0.0, float(image.width), float(image.height)], "score": 1.0}]  # noqa: E731
        elif os.path.isdir(name) or ("/" in name and not os.path.exists(name) and not name.startswith((".", "/"))):
            kind, normalize = "object-detection", True
            floor = DEFAULT_MIN_SCORES[kind] if min_score is None else float(min_score)
            detect = _object_detection(name, device, floor)
        else:
            raise ValueError(f"face_detector: unknown detector {name!r} (expected one of {list(BUILTIN_FACE_DETECTORS)}, "
                             "a Hub id or folder of a transformers object-detection model, or a callable)")
    else:
        raise ValueError(f"face_detector: expected a detector name, a Hub id or folder, or a callable, got "
                         f"{type(spec).__name__}")
    floor = DEFAULT_MIN_SCORES[kind] if min_score is None else float(min_score)
    return FaceDetector(detect, name, floor, max_faces, normalize)


# ----------------------------------------------------------------------------------------------------------------
# Video: detection on a stride + IoU tracking


def box_iou(a, b) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of ``[x1, y1, x2, y2]`` boxes given as lists or arrays (torchvision's IoU)."""
    from torchvision.ops import box_iou as torchvision_box_iou

    a = torch.as_tensor(np.asarray(a, np.float64)).reshape(-1, 4)
    b = torch.as_tensor(np.asarray(b, np.float64)).reshape(-1, 4)
    return torchvision_box_iou(a, b).numpy()


class FaceTracker:
    """Faces with stable integer ids across video frames.

    The detector runs on frame 0 and every ``detect_every`` frames after; in between, each face keeps its last
    detected box. At a detection, new faces are matched to the current ones greedily by IoU (>= ``iou_threshold``)
    and keep their id; unmatched faces get new ids (never reused), and faces not found are dropped.
    """

    def __init__(self, detector=None, *, detect_every: int = 1, iou_threshold: float = 0.3,
                 min_score: float | None = None, max_faces: int | None = None, device=None):
        from ..validation import check_positive_int

        self.detect_every = check_positive_int(detect_every, "detect_every")
        self.detector = resolve_face_detector(detector, min_score=min_score, max_faces=max_faces, device=device)
        self.iou_threshold = iou_threshold
        self.reset()

    def reset(self):
        self.faces: list[dict] = []
        self._frame = 0
        self._next_id = 0

    def update(self, detections: list[dict]) -> list[dict]:
        """Match ``detections`` (one detection frame) to the tracked faces; returns the faces with ``face_id``."""
        previous = self.faces
        ious = box_iou([f["box"] for f in previous], [d["box"] for d in detections])
        assigned: dict[int, int] = {}
        taken = set()
        for flat in np.argsort(-ious, axis=None, kind="stable"):
            i, j = np.unravel_index(flat, ious.shape)
            if ious[i, j] < self.iou_threshold:
                break
            if j not in assigned and i not in taken:
                assigned[int(j)] = previous[i]["face_id"]
                taken.add(i)
        faces = []
        for j, detection in enumerate(detections):
            if j not in assigned:
                assigned[j] = self._next_id
                self._next_id += 1
            faces.append({**detection, "face_id": assigned[j]})
        self.faces = faces
        return [dict(face) for face in faces]

    def __call__(self, image) -> list[dict]:
        """The faces of the next frame: detected on a stride, carried over (same boxes and ids) in between."""
        detect = self._frame % self.detect_every == 0
        self._frame += 1
        if detect:
            return self.update(self.detector(image))
        return [dict(face) for face in self.faces]


def track_faces(frames: Iterable, detector=None, *, detect_every: int = 1, iou_threshold: float = 0.3,
                min_score: float | None = None, max_faces: int | None = None, device=None) -> Iterator[list[dict]]:
    """Per frame of ``frames`` (PIL images or (H, W, 3) arrays) the list of tracked faces (see :class:`FaceTracker`)."""
    tracker = FaceTracker(detector, detect_every=detect_every, iou_threshold=iou_threshold, min_score=min_score,
                          max_faces=max_faces, device=device)
    for frame in frames:
        yield tracker(frame)


__all__ = [
    "BUILTIN_FACE_DETECTORS",
    "DEFAULT_FACE_DETECTOR",
    "FaceDetector",
    "FaceTracker",
    "MTCNNFaceDetector",
    "box_iou",
    "normalize_detections",
    "resolve_face_detector",
    "track_faces",
]
