"""Heatmap encoding/decoding, affine warps and flip tables shared by the landmark methods.

Coordinate convention (used everywhere in hfvid): pixel ``k`` covers ``[k - 0.5, k + 0.5)`` and has its centre at
``k``. A map with stride ``s`` relative to its input therefore uses ``u_map = (u_in + 0.5) / s - 0.5``.

The encoder renders the *continuous* Gaussian of Subpixel Heatmap Regression (Bulat et al., BMVC 2021): the peak
sits at the exact, unrounded location. The decoder ``local_soft_argmax`` adds the soft-argmax offset inside a
small window around the integer argmax, which inverts that encoding to a few hundredths of a pixel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

ENCODINGS = ("continuous", "rounded", "bilinear")
DECODE_METHODS = ("argmax", "argmax_quarter_shift", "soft_argmax", "local_soft_argmax")

# 68-point iBUG / Multi-PIE mirror permutation (0-based): index i of a flipped face is point perm[i] of the original.
IBUG68_FLIP_PERMUTATION = (
    list(range(16, -1, -1))
    + list(range(26, 16, -1))
    + [27, 28, 29, 30, 35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]
    + [64, 63, 62, 61, 60, 67, 66, 65]
)
# 98-point WFLW mirror permutation (contour, brows, nose, eyes, lips, pupils).
WFLW98_FLIP_PERMUTATION = (
    list(range(32, -1, -1))
    + [46, 45, 44, 43, 42, 50, 49, 48, 47, 37, 36, 35, 34, 33, 41, 40, 39, 38]
    + [51, 52, 53, 54, 59, 58, 57, 56, 55]
    + [72, 71, 70, 69, 68, 75, 74, 73, 64, 63, 62, 61, 60, 67, 66, 65]
    + [82, 81, 80, 79, 78, 77, 76, 87, 86, 85, 84, 83, 92, 91, 90, 89, 88, 95, 94, 93, 97, 96]
)
# 29-point COFW: mirror pairs (0,1) (2,3) (4,6) (5,7) (8,9) (10,11) (12,14) (13,15) (16,17) (18,19) (22,23), the
# pairs HRNet's COFW loader swaps; 20, 21 and 24-28 lie on the midline.
COFW29_FLIP_PERMUTATION = [1, 0, 3, 2, 6, 7, 4, 5, 9, 8, 11, 10, 14, 15, 12, 13, 17, 16, 19, 18, 20, 21, 23, 22,
                           24, 25, 26, 27, 28]
# 21-point AFLW (brows 0-5, eyes 6-11, ears 12 and 16, nose 13-15, mouth 17-19, chin 20) and the 19-point subset
# without the ears used by the SAN/HRNet split.
AFLW21_FLIP_PERMUTATION = [5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 16, 15, 14, 13, 12, 19, 18, 17, 20]
AFLW19_FLIP_PERMUTATION = [5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 14, 13, 12, 17, 16, 15, 18]
FLIP_PERMUTATIONS = {"ibug68": IBUG68_FLIP_PERMUTATION, "wflw98": WFLW98_FLIP_PERMUTATION,
                     "cofw29": COFW29_FLIP_PERMUTATION, "aflw19": AFLW19_FLIP_PERMUTATION,
                     "aflw21": AFLW21_FLIP_PERMUTATION}
# Outer eye corners used for the inter-ocular normaliser.
EYE_CORNERS = {"ibug68": (36, 45), "wflw98": (60, 72), "cofw29": (8, 9)}


def to_map_coords(points: torch.Tensor, stride: float) -> torch.Tensor:
    """Input-pixel coordinates -> coordinates on a map ``stride`` times smaller (centre-at-integer)."""
    return (points + 0.5) / stride - 0.5


def from_map_coords(points: torch.Tensor, stride: float) -> torch.Tensor:
    """Inverse of :func:`to_map_coords`."""
    return (points + 0.5) * stride - 0.5


def _gaussian(points: torch.Tensor, height: int, width: int, sigma: float) -> torch.Tensor:
    """Unit-peak Gaussians centred at ``points`` (..., 2) sampled at integer pixel centres -> (..., H, W)."""
    ys = torch.arange(height, device=points.device, dtype=points.dtype)
    xs = torch.arange(width, device=points.device, dtype=points.dtype)
    dx2 = (xs - points[..., 0:1]) ** 2  # (..., W)
    dy2 = (ys - points[..., 1:2]) ** 2  # (..., H)
    return torch.exp(-(dy2[..., :, None] + dx2[..., None, :]) / (2.0 * sigma**2))


def inside_map(points: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """True where a point lies on the map, i.e. inside ``[-0.5, size - 0.5)`` on both axes."""
    x, y = points[..., 0], points[..., 1]
    return (x >= -0.5) & (x < width - 0.5) & (y >= -0.5) & (y < height - 0.5)


def encode_heatmaps(
    points: torch.Tensor,
    heatmap_size: int | tuple[int, int],
    sigma: float = 2.0,
    encoding: str = "continuous",
) -> torch.Tensor:
    """Render target heatmaps (B, N, H, W) for ``points`` (B, N, 2) given in heatmap coordinates.

    ``continuous`` centres the Gaussian at the exact location, ``rounded`` at the nearest pixel (the usual practice
    the paper improves on), ``bilinear`` splats four Gaussians at the integer neighbours with bilinear weights.
    Points off the map give an all-zero map.
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    if points.ndim != 3 or points.shape[-1] != 2:
        raise ValueError(f"points must have shape (batch, num_points, 2), got {tuple(points.shape)}")
    height, width = (heatmap_size, heatmap_size) if isinstance(heatmap_size, int) else heatmap_size
    points = points.float()
    if encoding == "continuous":
        maps = _gaussian(points, height, width, sigma)
    elif encoding == "rounded":
        maps = _gaussian(torch.round(points), height, width, sigma)
    else:
        base = torch.floor(points)
        frac = points - base
        maps = 0
        for ox in (0, 1):
            for oy in (0, 1):
                wx = frac[..., 0] if ox else 1 - frac[..., 0]
                wy = frac[..., 1] if oy else 1 - frac[..., 1]
                offset = torch.tensor([ox, oy], dtype=points.dtype, device=points.device)
                maps = maps + (wx * wy)[..., None, None] * _gaussian(base + offset, height, width, sigma)
    return maps * inside_map(points, height, width)[..., None, None]


def _peaks(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Integer argmax (x, y) as long tensors (B, N) and the peak values."""
    width = heatmaps.shape[-1]
    values, index = heatmaps.flatten(-2).max(dim=-1)
    return index % width, index // width, values


def _gather(heatmaps: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Values of ``heatmaps`` (B, N, H, W) at integer positions ``xs``/``ys`` (B, N, K), clamped to the map."""
    height, width = heatmaps.shape[-2:]
    flat = ys.clamp(0, height - 1) * width + xs.clamp(0, width - 1)
    return torch.gather(heatmaps.flatten(-2), -1, flat)


def decode_heatmaps(
    heatmaps: torch.Tensor,
    method: str = "local_soft_argmax",
    window: int = 5,
    temperature: float = 10.0,
    normalize_peak: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode heatmaps (B, N, H, W) into (points (B, N, 2) in heatmap coordinates, scores (B, N)).

    * ``argmax``: integer peak.
    * ``argmax_quarter_shift``: face-alignment's rule, a quarter pixel towards the larger neighbour (not on borders).
    * ``soft_argmax``: expectation of ``softmax(temperature * H)`` over the whole map.
    * ``local_soft_argmax``: integer peak plus the expected offset of ``softmax(temperature * H)`` inside a
      ``window x window`` patch around it (cells off the map are excluded). Differentiable w.r.t. the values.
      ``normalize_peak`` divides the window by its peak first, which makes the result amplitude-invariant.

    Scores are the heatmap values at the integer peak.
    """
    if method not in DECODE_METHODS:
        raise ValueError(f"method must be one of {DECODE_METHODS}, got {method!r}")
    if heatmaps.ndim != 4:
        raise ValueError(f"heatmaps must have shape (batch, num_points, height, width), got {tuple(heatmaps.shape)}")
    height, width = heatmaps.shape[-2:]
    px, py, scores = _peaks(heatmaps)
    peak = torch.stack([px, py], dim=-1).to(heatmaps.dtype)

    if method == "argmax":
        return peak, scores
    if method == "argmax_quarter_shift":
        offsets = torch.tensor([[1, 0], [-1, 0], [0, 1], [0, -1]], device=heatmaps.device)
        xs = px[..., None] + offsets[:, 0]
        ys = py[..., None] + offsets[:, 1]
        right, left, down, up = _gather(heatmaps, xs, ys).unbind(-1)
        shift = 0.25 * torch.sign(torch.stack([right - left, down - up], dim=-1))
        interior = (px > 0) & (px < width - 1) & (py > 0) & (py < height - 1)
        return peak + shift * interior[..., None], scores
    if method == "soft_argmax":
        weights = torch.softmax(temperature * heatmaps.flatten(-2), dim=-1)
        xs = torch.arange(width, device=heatmaps.device, dtype=heatmaps.dtype).repeat(height)
        ys = torch.arange(height, device=heatmaps.device, dtype=heatmaps.dtype).repeat_interleave(width)
        return torch.stack([(weights * xs).sum(-1), (weights * ys).sum(-1)], dim=-1), scores

    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd number, got {window}")
    radius = window // 2
    steps = torch.arange(-radius, radius + 1, device=heatmaps.device)
    dy, dx = torch.meshgrid(steps, steps, indexing="ij")
    dx, dy = dx.reshape(-1), dy.reshape(-1)
    xs, ys = px[..., None] + dx, py[..., None] + dy
    values = _gather(heatmaps, xs, ys)  # (B, N, window*window)
    if normalize_peak:
        values = values / values.amax(dim=-1, keepdim=True).clamp_min(1e-6)
    logits = temperature * (values - values.amax(dim=-1, keepdim=True).detach())
    on_map = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
    weights = torch.softmax(logits.masked_fill(~on_map, float("-inf")), dim=-1)
    offset = torch.stack([(weights * dx).sum(-1), (weights * dy).sum(-1)], dim=-1)
    return peak + offset, scores


def flip_points(points: torch.Tensor, width: int, flip_permutation: list[int] | None) -> torch.Tensor:
    """Mirror points (..., N, 2) of an image of ``width`` pixels horizontally and re-order them with the table."""
    flipped = torch.stack([width - 1 - points[..., 0], points[..., 1]], dim=-1)
    return flipped if flip_permutation is None else flipped[..., flip_permutation, :]


def flip_heatmaps(heatmaps: torch.Tensor, flip_permutation: list[int] | None) -> torch.Tensor:
    """Mirror heatmaps (B, N, H, W) horizontally and re-order their channels with the mirror table."""
    flipped = heatmaps.flip(-1)
    return flipped if flip_permutation is None else flipped[:, flip_permutation]


def rescale_matrix(matrix: torch.Tensor, stride: float) -> torch.Tensor:
    """Express an input-pixel affine (B, 2, 3) on maps ``stride`` times smaller (with the half-pixel shift)."""
    shift = 0.5 / stride - 0.5
    to_map = matrix.new_tensor([[1.0 / stride, 0.0, shift], [0.0, 1.0 / stride, shift]]).expand_as(matrix)
    return compose_affine(to_map, compose_affine(matrix, invert_affine(to_map)))


def invert_affine(matrix: torch.Tensor) -> torch.Tensor:
    """Inverse of affine maps (..., 2, 3)."""
    linear_inverse = torch.linalg.inv(matrix[..., :2])
    return torch.cat([linear_inverse, -(linear_inverse @ matrix[..., 2:])], dim=-1)


def compose_affine(outer: torch.Tensor, inner: torch.Tensor) -> torch.Tensor:
    """``outer o inner`` for affine maps (..., 2, 3)."""
    linear = outer[..., :2] @ inner[..., :2]
    return torch.cat([linear, outer[..., :2] @ inner[..., 2:] + outer[..., 2:]], dim=-1)


def apply_affine(matrix: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Apply affine maps (B, 2, 3) to points (B, N, 2)."""
    return points @ matrix[..., :2].transpose(-1, -2) + matrix[..., None, :, 2]


def warp_affine(
    images: torch.Tensor,
    matrix: torch.Tensor,
    output_size: int | tuple[int, int],
    mode: str = "bilinear",
    padding_mode: str = "zeros",
) -> torch.Tensor:
    """Warp images (B, C, H, W) with affine maps (B, 2, 3) from input to output pixel coordinates.

    Built on ``affine_grid``/``grid_sample`` with ``align_corners=False``, which matches the centre-at-integer
    convention, so a point at ``p`` in the input lands exactly at ``matrix @ p`` in the output.
    """
    out_h, out_w = (output_size, output_size) if isinstance(output_size, int) else output_size
    in_h, in_w = images.shape[-2:]
    matrix = matrix.to(images.dtype)

    def normalizer(height: int, width: int) -> torch.Tensor:
        # pixel -> [-1, 1] normalised coordinates: g = (2u + 1) / size - 1
        return torch.tensor(
            [[2.0 / width, 0.0, 1.0 / width - 1.0], [0.0, 2.0 / height, 1.0 / height - 1.0]],
            dtype=images.dtype,
            device=images.device,
        )

    to_norm_in = normalizer(in_h, in_w).expand_as(matrix)
    from_norm_out = invert_affine(normalizer(out_h, out_w)).expand_as(matrix)
    theta = compose_affine(to_norm_in, compose_affine(invert_affine(matrix), from_norm_out))
    grid = F.affine_grid(theta, [images.shape[0], images.shape[1], out_h, out_w], align_corners=False)
    return F.grid_sample(images, grid, mode=mode, padding_mode=padding_mode, align_corners=False)


__all__ = [
    "DECODE_METHODS",
    "ENCODINGS",
    "EYE_CORNERS",
    "AFLW19_FLIP_PERMUTATION",
    "AFLW21_FLIP_PERMUTATION",
    "COFW29_FLIP_PERMUTATION",
    "FLIP_PERMUTATIONS",
    "IBUG68_FLIP_PERMUTATION",
    "WFLW98_FLIP_PERMUTATION",
    "apply_affine",
    "compose_affine",
    "decode_heatmaps",
    "encode_heatmaps",
    "flip_heatmaps",
    "flip_points",
    "from_map_coords",
    "inside_map",
    "invert_affine",
    "rescale_matrix",
    "to_map_coords",
    "warp_affine",
]
