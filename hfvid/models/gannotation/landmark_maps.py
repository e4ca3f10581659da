"""Landmark conditioning of GANnotation: 68 -> 66 / 5 point helpers, the crop rule, and the three map renderers.

* ``heatmap``: one continuous Gaussian per point (``hfvid.modules.heatmaps.encode_heatmaps``), peak at the exact
  location, std ``sigma`` pixels (ours; the default).
* ``legacy_heatmap``: the released model's maps: a 7x7 patch of a Gaussian with std 1.75 px pasted with its peak at
  pixel ``floor(round(p, 2)) - 1`` (the original treats points as 1-based), for converted weights.
* ``edge``: the training code's 3-channel polylines (jaw red, brows + eyes green, nose + mouth blue), width 3 px,
  in [-1, 1].

Coordinates are hfvid's: pixel ``k`` is centred at ``k``.
"""

from __future__ import annotations

import numpy as np
import torch

from ...modules.heatmaps import IBUG68_FLIP_PERMUTATION, encode_heatmaps

# 68 -> 66: the released model drops the inner mouth corners (0-based 60 and 64).
IBUG66_FROM_68 = tuple(i for i in range(68) if i not in (60, 64))
IBUG66_FLIP_PERMUTATION = tuple(
    IBUG66_FROM_68.index(IBUG68_FLIP_PERMUTATION[i]) for i in IBUG66_FROM_68
)
# Outer eye corners (inter-ocular normaliser): indices 36 and 45 are below 60, so the same in both schemes.
EYE_CORNERS_66 = (36, 45)

# 68 -> 5: the 5-point scheme of the blob faces (``hfvid.data.synthetic_pairs.BLOB_TEMPLATE``), image-left first:
# the two eye centres (mean of each eye's 6 contour points), nose tip, the two outer mouth corners. Every index is
# below 60, so it holds for 66-point shapes too.
IBUG5_EYES_68 = (tuple(range(36, 42)), tuple(range(42, 48)))
IBUG5_NOSE_MOUTH_68 = (30, 48, 54)

# 68-point polylines of the edge maps: (point indices, closed, colour channel).
_EDGE_CONTOURS_68 = (
    (range(0, 17), False, 0),
    (range(17, 22), False, 1), (range(22, 27), False, 1), (range(36, 42), True, 1), (range(42, 48), True, 1),
    (range(27, 31), False, 2), (range(31, 36), False, 2), (range(48, 60), True, 2), (range(60, 68), True, 2),
)


def to_66_points(points):
    """(..., 68, 2) iBUG points -> (..., 66, 2) without the inner mouth corners; 66-point input is returned as is."""
    count = points.shape[-2]
    if count == 66:
        return points
    if count != 68:
        raise ValueError(f"expected 68 or 66 landmarks, got {count}")
    return points[..., list(IBUG66_FROM_68), :]


def to_5_points(points):
    """(..., 68|66, 2) iBUG points -> (..., 5, 2): eye centres, nose tip, mouth corners (image-left first)."""
    if points.shape[-2] not in (66, 68):
        raise ValueError(f"expected 68 or 66 landmarks, got {points.shape[-2]}")
    eyes = [points[..., list(eye), :].mean(-2) for eye in IBUG5_EYES_68]
    others = [points[..., index, :] for index in IBUG5_NOSE_MOUTH_68]
    return np.stack(eyes + others, axis=-2)


def to_model_points(points, num_landmarks: int, name: str = "landmarks"):
    """(T, N, 2) shapes in the model's scheme: iBUG 68 reduced to 66 (66-point model) or 5 (5-point model), 66
    reduced to 5; other counts must equal ``num_landmarks`` (``ValueError`` naming ``name`` otherwise)."""
    count = points.shape[-2]
    if count == num_landmarks:
        return points
    if num_landmarks == 66 and count == 68:
        return to_66_points(points)
    if num_landmarks == 5 and count in (66, 68):
        return to_5_points(points)
    accepted = {66: " (or iBUG 68, reduced to 66)", 5: " (or iBUG 68/66, reduced to eye centres, nose tip and "
                "mouth corners)"}.get(num_landmarks, "")
    raise ValueError(f"{name} have {count} points, the model expects {num_landmarks}{accepted}")


def _edge_segments(num_landmarks: int) -> tuple[list[int], list[int], list[int]]:
    """Start/end point indices and colour channel of every polyline segment, for 68 or 66 points."""
    index = {old: new for new, old in enumerate(IBUG66_FROM_68)} if num_landmarks == 66 else None
    starts, ends, channels = [], [], []
    for contour, closed, channel in _EDGE_CONTOURS_68:
        points = [i for i in contour if index is None or i in index]
        pairs = list(zip(points[:-1], points[1:])) + ([(points[-1], points[0])] if closed else [])
        for a, b in pairs:
            starts.append(a if index is None else index[a])
            ends.append(b if index is None else index[b])
            channels.append(channel)
    return starts, ends, channels


def render_edge_maps(points: torch.Tensor, size: int, width: float = 3.0) -> torch.Tensor:
    """(B, 66|68, 2) points -> (B, 3, size, size) anti-aliased polylines in [-1, 1] (background -1)."""
    starts, ends, channels = _edge_segments(points.shape[1])
    points = points.float()
    p0, p1 = points[:, starts], points[:, ends]  # (B, S, 2)
    grid = torch.arange(size, dtype=points.dtype, device=points.device)
    px = grid.view(1, 1, 1, size)
    py = grid.view(1, 1, size, 1)
    d = (p1 - p0)[..., None, None, :]  # (B, S, 1, 1, 2)
    rel_x, rel_y = px - p0[..., 0, None, None], py - p0[..., 1, None, None]
    length2 = (d[..., 0] ** 2 + d[..., 1] ** 2).clamp_min(1e-12)
    t = ((rel_x * d[..., 0] + rel_y * d[..., 1]) / length2).clamp(0.0, 1.0)
    distance = torch.sqrt((rel_x - t * d[..., 0]) ** 2 + (rel_y - t * d[..., 1]) ** 2)
    cover = (width / 2 + 0.5 - distance).clamp(0.0, 1.0)  # (B, S, size, size)
    maps = points.new_zeros(points.shape[0], 3, size, size)
    channel = torch.tensor(channels, device=points.device)
    for c in range(3):
        maps[:, c] = cover[:, channel == c].amax(dim=1)
    return maps * 2.0 - 1.0


def _legacy_kernel(dtype, device) -> torch.Tensor:
    """The released model's 1-D kernel: ``exp(-((j + 1 - 4) / (0.25 * 7))**2 / 2)`` for j = 0..6."""
    j = torch.arange(7, dtype=torch.float64)
    return torch.exp(-(((j - 3.0) / 1.75) ** 2) / 2.0).to(dtype=dtype, device=device)


def render_legacy_heatmaps(points: torch.Tensor, size: int) -> torch.Tensor:
    """(B, N, 2) points -> (B, N, size, size) maps as the released model's ``generate_maps(points, sigma=1)``.

    Each map is the outer product of a 7-tap Gaussian (std 1.75 px) centred on pixel ``floor(round(p, 2)) - 1``;
    patches are clipped at the borders. (The original shifts clipped patches by one pixel at the top/left border;
    that quirk is not reproduced.)
    """
    points = points.double()
    peak = torch.floor(torch.round(points * 100.0) / 100.0) - 1.0  # (B, N, 2), 0-based peak pixel
    kernel = _legacy_kernel(torch.float64, points.device)
    grid = torch.arange(size, dtype=torch.float64, device=points.device)
    offset_x = grid - peak[..., 0:1] + 3.0  # (B, N, size): kernel tap of each column
    offset_y = grid - peak[..., 1:2] + 3.0

    def taps(offset):
        inside = (offset >= 0) & (offset <= 6)
        return torch.where(inside, kernel[offset.clamp(0, 6).long()], torch.zeros_like(offset))

    maps = taps(offset_y)[..., :, None] * taps(offset_x)[..., None, :]
    return maps.float().clamp(max=1.0)


def render_landmark_maps(points: torch.Tensor, size: int, encoding: str = "heatmap", sigma: float = 1.75):
    """Render (B, N, 2) crop-pixel points as the generator's conditioning maps (see the module docstring)."""
    if points.ndim != 3 or points.shape[-1] != 2:
        raise ValueError(f"landmarks must have shape (batch, num_landmarks, 2), got {tuple(points.shape)}")
    if encoding == "heatmap":
        return encode_heatmaps(points, size, sigma, "continuous")
    if encoding == "legacy_heatmap":
        return render_legacy_heatmaps(points, size)
    if encoding == "edge":
        return render_edge_maps(points, size)
    raise ValueError(f"encoding must be 'heatmap', 'legacy_heatmap' or 'edge', got {encoding!r}")


def crop_box(points, margin: float = 16.0) -> np.ndarray:
    """GANnotation's crop rule: the landmarks' box grown by ``margin * delta / 100`` px on every side.

    ``delta`` is the mean of the box's width and height; faces smaller than 20 px get a fixed 8 px margin.
    Returns ``[x0, y0, x1, y1]`` (float; the original rounds to whole pixels, hfvid does not).
    """
    points = np.asarray(points, dtype=np.float64)
    low, high = points.min(0), points.max(0)
    delta = 0.5 * float((high - low).sum())
    pad = 8.0 if delta < 20 else margin * delta / 100.0
    return np.array([low[0] - pad, low[1] - pad, high[0] + pad, high[1] + pad])


def crop_matrix(box, size: int) -> np.ndarray:
    """The (2, 3) pixel map taking ``box`` ``[x0, y0, x1, y1]`` onto a ``size`` x ``size`` crop (per-axis scale)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"crop box must have positive width and height, got {list(box)}")
    sx, sy = size / (x1 - x0), size / (y1 - y0)
    return np.array([[sx, 0.0, -x0 * sx], [0.0, sy, -y0 * sy]])


def normalize_shape(points, size: int, margin: float = 16.0) -> np.ndarray:
    """Express a target shape in the output crop frame by applying the crop rule to the shape itself.

    This transfers only pose and expression, not the driving face's position or scale (as the original demo).
    """
    points = np.asarray(points, dtype=np.float64)
    matrix = crop_matrix(crop_box(points, margin), size)
    return points @ matrix[:, :2].T + matrix[:, 2]


__all__ = [
    "EYE_CORNERS_66",
    "IBUG66_FLIP_PERMUTATION",
    "IBUG66_FROM_68",
    "crop_box",
    "crop_matrix",
    "normalize_shape",
    "render_edge_maps",
    "render_landmark_maps",
    "render_legacy_heatmaps",
    "IBUG5_EYES_68",
    "IBUG5_NOSE_MOUTH_68",
    "to_5_points",
    "to_66_points",
    "to_model_points",
]
