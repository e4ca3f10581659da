"""Generic keypoints that start the self-training (stage 1 (a) of Keypoints-to-Landmarks).

An initialiser is any callable ``image (3, H, W) float [0, 1] -> (points (n, 2) image pixels, descriptors (n, D))``
(the :class:`KeypointInitializer` protocol). Three ship with hfvid:

* :class:`SuperPointKeypointInitializer`: the paper's choice, ``transformers.SuperPointForKeypointDetection`` (any
  checkpoint you have, e.g. ``magic-leap-community/superpoint`` - non-commercial licence) on the grayscale image,
  score threshold 0.15 and a square NMS of side ``8 * H / 218`` px (``torchvision.ops.nms``, IoU 0.01).
* :class:`CornerKeypointInitializer`: a Harris corner detector with colour-patch descriptors, the CPU default.
* :class:`GivenKeypointInitializer`: points that come with the data (e.g. synthetic part centres + clutter).

:func:`remove_outliers` then drops the points whose descriptors are far from everyone else's (median distance to
their nearest neighbours, an exact chunked k-NN search with memory flat in the number of points), and
:func:`initial_keypoints` runs it all over a dataset.
"""

from __future__ import annotations

import logging
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from ...clustering import DEFAULT_CHUNK_SIZE, iter_knn_distances

logger = logging.getLogger(__name__)


class KeypointInitializer(Protocol):
    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


def _gray(image: torch.Tensor) -> torch.Tensor:
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"image must be a float tensor (3, H, W) in [0, 1], got shape {tuple(image.shape)}")
    weights = image.new_tensor([0.299, 0.587, 0.114])[:, None, None]
    return (image * weights).sum(0)


def patch_descriptors(image: torch.Tensor, points: torch.Tensor, radius: int = 2) -> torch.Tensor:
    """L2-normalised, mean-subtracted RGB patches of side ``2 radius + 1`` around ``points`` (n, 2) -> (n, 3 s^2)."""
    side = 2 * radius + 1
    padded = F.pad(image[None], (radius,) * 4, mode="replicate")
    patches = F.unfold(padded, side)[0].T.reshape(image.shape[1], image.shape[2], -1)  # (H, W, 3 s^2)
    xs = points[:, 0].round().long().clamp(0, image.shape[2] - 1)
    ys = points[:, 1].round().long().clamp(0, image.shape[1] - 1)
    descriptors = patches[ys, xs]
    return F.normalize(descriptors - descriptors.mean(dim=1, keepdim=True), dim=1)


class CornerKeypointInitializer:
    """Harris corners (Sobel gradients, Gaussian window, ``k = 0.04``), max-pool NMS of half-size ``nms_radius``,
    response above ``threshold`` x the image maximum, the ``max_keypoints`` strongest; colour-patch descriptors."""

    def __init__(self, max_keypoints: int = 30, nms_radius: int = 2, threshold: float = 0.05, sigma: float = 1.0,
                 border: int = 2, patch_radius: int = 2):
        self.max_keypoints, self.nms_radius, self.threshold = max_keypoints, nms_radius, threshold
        self.sigma, self.border, self.patch_radius = sigma, border, patch_radius

    def response(self, image: torch.Tensor) -> torch.Tensor:
        """Harris response (H, W) of the grayscale image."""
        gray = _gray(image)[None, None]
        sobel = gray.new_tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8
        gx = F.conv2d(F.pad(gray, (1, 1, 1, 1), mode="replicate"), sobel[None, None])
        gy = F.conv2d(F.pad(gray, (1, 1, 1, 1), mode="replicate"), sobel.T[None, None])
        radius = max(int(3 * self.sigma), 1)
        steps = torch.arange(-radius, radius + 1, dtype=gray.dtype)
        kernel = torch.exp(-(steps**2) / (2 * self.sigma**2))
        kernel = (kernel[:, None] * kernel[None, :]) / kernel.sum() ** 2

        def smooth(x):
            return F.conv2d(F.pad(x, (radius,) * 4, mode="replicate"), kernel[None, None])

        sxx, syy, sxy = smooth(gx * gx), smooth(gy * gy), smooth(gx * gy)
        return (sxx * syy - sxy**2 - 0.04 * (sxx + syy) ** 2)[0, 0]

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        response = self.response(image)
        r = self.nms_radius
        peaks = response == F.max_pool2d(response[None, None], 2 * r + 1, stride=1, padding=r)[0, 0]
        keep = peaks & (response > self.threshold * response.max().clamp_min(1e-12))
        if self.border:
            inner = torch.zeros_like(keep)
            inner[self.border:-self.border, self.border:-self.border] = True
            keep &= inner
        ys, xs = torch.nonzero(keep, as_tuple=True)
        order = response[ys, xs].argsort(descending=True)[: self.max_keypoints]
        points = torch.stack([xs[order], ys[order]], dim=-1).float()
        return points, patch_descriptors(image, points, self.patch_radius)


class GivenKeypointInitializer:
    """Points that come with each record (``record[key]``, image pixels); colour-patch descriptors."""

    def __init__(self, key: str = "keypoints", patch_radius: int = 2):
        self.key, self.patch_radius = key, patch_radius

    def points_of(self, record) -> torch.Tensor:
        points = torch.as_tensor(np.asarray(record[self.key], dtype=np.float32)).reshape(-1, 2)
        return points

    def __call__(self, image: torch.Tensor, points: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if points is None:
            raise ValueError("GivenKeypointInitializer needs the record's points (see initial_keypoints)")
        return points, patch_descriptors(image, points, self.patch_radius)


class SuperPointKeypointInitializer:
    """SuperPoint keypoints + descriptors on the grayscale image, with the paper's threshold and square NMS.

    Args:
        model: a ``transformers.SuperPointForKeypointDetection`` (e.g. ``from_pretrained`` of a local copy of
            ``magic-leap-community/superpoint``, or a randomly initialised one in tests).
        threshold: keypoint score threshold (paper 0.15).
        nms_px, reference_height: NMS square side ``nms_px * H / reference_height`` (paper 8 px at 218 px).
    """

    def __init__(self, model, threshold: float = 0.15, nms_px: float = 8.0, reference_height: float = 218.0):
        self.model = model.eval()
        self.model.keypoint_decoder.keypoint_threshold = threshold
        self.nms_px, self.reference_height = nms_px, reference_height

    @classmethod
    def from_pretrained(cls, name_or_path: str, **kwargs) -> "SuperPointKeypointInitializer":
        from transformers import SuperPointForKeypointDetection

        return cls(SuperPointForKeypointDetection.from_pretrained(name_or_path), **kwargs)

    @torch.no_grad()
    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        from torchvision.ops import nms

        gray = _gray(image)
        height, width = gray.shape
        device = next(self.model.parameters()).device
        output = self.model(pixel_values=gray[None, None].expand(1, 3, -1, -1).to(device))
        valid = output.mask[0].bool()
        points = (output.keypoints[0][valid] * torch.tensor([width, height], device=device)).cpu()
        scores, descriptors = output.scores[0][valid].cpu(), output.descriptors[0][valid].cpu()
        half = self.nms_px * height / self.reference_height / 2
        boxes = torch.cat([points - half, points + half], dim=1)
        keep = nms(boxes, scores, 0.01)
        return points[keep], F.normalize(descriptors[keep], dim=1)


def outlier_scores(descriptors, neighbors: int = 100, chunk_size: int = DEFAULT_CHUNK_SIZE, device=None,
                   backend: str = "torch") -> torch.Tensor:
    """(n,) median L2 distance of each descriptor to its ``min(neighbors, n - 1)`` nearest other descriptors
    (lower median for an even count), by the exact chunked k-NN search of :func:`hfvid.clustering.iter_knn_distances`:
    memory about ``chunk_size^2`` distances on ``device`` plus the (n,) scores."""
    descriptors = torch.as_tensor(descriptors).float()
    count = len(descriptors)
    k = min(neighbors, count - 1)
    if k < 1:
        return torch.zeros(count)
    scores = torch.empty(count)
    for start, distances in iter_knn_distances(descriptors, k, chunk_size, device, backend):
        scores[start:start + len(distances)] = distances.median(dim=1).values.cpu()
    return scores


def remove_outliers(descriptors, fraction: float = 0.4, neighbors: int = 100, chunk_size: int = DEFAULT_CHUNK_SIZE,
                    device=None, backend: str = "torch") -> torch.Tensor:
    """Boolean mask (n,) keeping the ``n - int(fraction n)`` points with the smallest :func:`outlier_scores` (the
    paper's faiss-indexed search, done exactly here: chunked running top-k on ``device``, or ``backend="faiss"``).
    Ties in the score are broken by position (stable sort), so the mask is deterministic."""
    if not 0 <= fraction < 1:
        raise ValueError(f"fraction must be in [0, 1), got {fraction!r}")
    count = len(descriptors)
    if count == 0 or fraction == 0 or count < 2:
        return torch.ones(count, dtype=torch.bool)
    scores = outlier_scores(descriptors, neighbors, chunk_size, device, backend)
    keep = torch.zeros(count, dtype=torch.bool)
    keep[torch.sort(scores, stable=True).indices[: count - int(fraction * count)]] = True
    return keep


def initial_keypoints(records, processor, initializer, fraction: float = 0.4, neighbors: int = 100,
                      min_points: int = 2, device=None, chunk_size: int = DEFAULT_CHUNK_SIZE,
                      search_backend: str = "torch") -> list[dict]:
    """Generic keypoints of every record, mapped into the crop: ``[{"index", "points" (n, 2) crop px,
    "descriptors" (n, D)}]`` after outlier removal over the whole set.

    Points outside the object crop are dropped. The outlier search (``search_backend`` "torch" or "faiss") runs on
    ``device`` in blocks of ``chunk_size``. Records left with fewer than ``min_points`` points are dropped
    (documented fallback, logged); if none is left a ``ValueError`` says so.
    """
    from ...modules.heatmaps import apply_affine, inside_map
    from ...modules.images import image_to_tensor

    size = processor.crop_size
    found = []
    for index, record in enumerate(records):
        image = image_to_tensor(record["image"])
        if isinstance(initializer, GivenKeypointInitializer):
            points, descriptors = initializer(image, initializer.points_of(record))
        else:
            points, descriptors = initializer(image)
        box = torch.as_tensor(np.asarray(record["box"], dtype=np.float32))[None]
        crop_points = apply_affine(processor.crop_matrices(box), points[None].float())[0]
        inside = inside_map(crop_points, size, size)
        found.append((index, crop_points[inside], descriptors[inside]))
    all_descriptors = [d for _, _, d in found if len(d)]
    if not all_descriptors:
        raise ValueError("the keypoint initialiser found no keypoint inside any object box")
    keep = remove_outliers(torch.cat(all_descriptors), fraction, neighbors, chunk_size, device, search_backend)
    keep = keep.split([len(d) for _, _, d in found])
    table, dropped = [], 0
    for (index, points, descriptors), kept in zip(found, keep):
        if int(kept.sum()) < min_points:
            dropped += 1
            continue
        table.append({"index": index, "points": points[kept], "descriptors": descriptors[kept]})
    if dropped:
        logger.warning(f"{dropped} of {len(found)} images have fewer than {min_points} generic keypoints after "
                       "outlier removal and are left out of self-training")
    if not table:
        raise ValueError(f"no image has >= {min_points} generic keypoints; lower the detector threshold or "
                         "outlier_fraction, or check the boxes")
    return table


__all__ = [
    "CornerKeypointInitializer",
    "GivenKeypointInitializer",
    "KeypointInitializer",
    "SuperPointKeypointInitializer",
    "initial_keypoints",
    "outlier_scores",
    "patch_descriptors",
    "remove_outliers",
]
