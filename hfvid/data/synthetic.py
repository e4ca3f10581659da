"""Seeded procedural face-like images with exact sub-pixel 68-point landmarks.

Each image is a soft face ellipse with one anti-aliased dot centred exactly on every landmark (colour
by region) and faint strokes along each contour, rendered from continuous coordinates with numpy only.
Because the dots sit exactly on the landmarks, a small CNN can learn them to sub-pixel accuracy, which
makes these images a ground-truth-exact smoke test for landmark models. Coordinates are 0-based with
pixel ``k`` centred at ``k``. Layout: iBUG 68 points (0-16 jaw, 17-26 brows, 27-35 nose, 36-47 eyes,
48-67 lips).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# 68-point horizontal mirror permutation (0-based): landmark k of a mirrored face is landmark MIRROR_68[k].
MIRROR_68 = np.array(
    list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65]
)

# Contours joined by strokes (closed ones wrap around).
_CONTOURS = [
    (range(0, 17), False), (range(17, 22), False), (range(22, 27), False), (range(27, 31), False),
    (range(31, 36), False), (range(36, 42), True), (range(42, 48), True), (range(48, 60), True),
    (range(60, 68), True),
]
# Region of every landmark, used for colours: 0 jaw, 1 brow, 2 nose, 3 eye, 4 outer lip, 5 inner lip.
_REGION = np.repeat([0, 1, 2, 3, 4, 5], [17, 10, 9, 12, 12, 8])


def face_template(brow_raise=0.0, eye_open=1.0, mouth_open=0.0, mouth_width=1.0) -> np.ndarray:
    """68-point face in the unit box (x right, y down), mirror-symmetric about x = 0.5."""
    pts = np.zeros((68, 2))
    t = np.arange(17) * np.pi / 16
    pts[0:17] = np.stack([0.5 - 0.5 * np.cos(t), 0.22 + 0.76 * np.sin(t)], 1)
    j = np.arange(5)
    brow = np.stack([0.08 + 0.085 * j, 0.19 - brow_raise - 0.05 * np.sin(np.pi * (j + 1) / 6)], 1)
    pts[17:22] = brow
    pts[22:27] = np.stack([1.0 - brow[::-1, 0], brow[::-1, 1]], 1)
    pts[27:31] = np.stack([np.full(4, 0.5), [0.30, 0.37, 0.44, 0.51]], 1)
    pts[31:36] = np.stack([0.5 + 0.055 * (j - 2), 0.575 + 0.02 * (1 - np.abs(j - 2) / 2)], 1)
    a = np.pi + np.arange(6) * np.pi / 3  # eyes: corner at angle pi, upper lid, far corner, lower lid
    for start, cx in ((36, 0.3), (42, 0.7)):
        pts[start:start + 6] = np.stack([cx + 0.09 * np.cos(a), 0.33 + 0.045 * eye_open * np.sin(a)], 1)
    a = np.pi + np.arange(12) * np.pi / 6
    pts[48:60] = np.stack([0.5 + 0.17 * mouth_width * np.cos(a), 0.76 + (0.06 + mouth_open / 2) * np.sin(a)], 1)
    a = np.pi + np.arange(8) * np.pi / 4
    pts[60:68] = np.stack([0.5 + 0.11 * mouth_width * np.cos(a), 0.76 + (0.012 + mouth_open / 2) * np.sin(a)], 1)
    return pts


MEAN_FACE_68 = face_template().astype(np.float32)
MEAN_FACE_68.setflags(write=False)


def _accumulate(height, width, px, py, alpha, colors):
    """Sum per-shape coverage ``alpha`` (S, K, K) and premultiplied colour into an (H, W, 4) canvas."""
    inside = (px >= 0) & (px < width) & (py >= 0) & (py < height) & (alpha > 0)
    flat = (py * width + px)[inside]
    a = alpha[inside]
    col = np.broadcast_to(colors[:, None, None, :], alpha.shape + (3,))[inside]
    out = np.empty((height * width, 4))
    out[:, 3] = np.bincount(flat, a, height * width)
    for c in range(3):
        out[:, c] = np.bincount(flat, a * col[:, c], height * width)
    return out.reshape(height, width, 4)


def _composite(image, layer, opacity=1.0):
    """Alpha-composite an accumulated layer (H, W, 4) onto ``image`` in place."""
    total = layer[..., 3:]
    color = layer[..., :3] / np.maximum(total, 1e-12)
    alpha = np.minimum(total, 1.0) * opacity
    image *= 1.0 - alpha
    image += alpha * color


def _patch_grid(cx, cy, half):
    """Integer pixel grids (S, K, K) centred on the rounded positions."""
    offs = np.arange(-half, half + 1)
    x0, y0 = np.round(cx).astype(int), np.round(cy).astype(int)
    px = x0[:, None, None] + offs[None, None, :]
    py = y0[:, None, None] + offs[None, :, None]
    return np.broadcast_arrays(px, py)


def render_face(points, face_ellipse, colors, rng, image_size, dot_radius, stroke_width):
    """Rasterise one face: background, face ellipse, contour strokes, landmark dots, noise."""
    size = image_size
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    bg_a, bg_b = colors["background"]
    ramp = (np.cos(colors["bg_angle"]) * xx + np.sin(colors["bg_angle"]) * yy) / size
    ramp = (ramp - ramp.min()) / max(np.ptp(ramp), 1e-9)
    image = bg_a + (bg_b - bg_a) * ramp[..., None]

    # Face: ellipse in face coordinates, with a ~1 px soft edge.
    centre, axes, rot = face_ellipse
    dx, dy = xx - centre[0], yy - centre[1]
    u = (np.cos(rot) * dx + np.sin(rot) * dy) / axes[0]
    v = (-np.sin(rot) * dx + np.cos(rot) * dy) / axes[1]
    dist = (np.sqrt(u * u + v * v) - 1.0) * min(axes)
    alpha = np.clip(0.5 - dist, 0.0, 1.0)[..., None]
    shade = 1.0 - 0.12 * np.clip(v, -1, 1)[..., None] ** 2  # mild shading so the face is not flat
    image = image * (1 - alpha) + alpha * colors["skin"] * shade

    region_colors = colors["regions"][_REGION]
    # Strokes: distance from pixel centres to each segment, evaluated in a patch around its midpoint.
    starts, ends = [], []
    for idx, closed in _CONTOURS:
        idx = list(idx)
        nxt = idx[1:] + ([idx[0]] if closed else [])
        starts += idx[: len(nxt)]
        ends += nxt
    p0, p1 = points[starts], points[ends]
    seg_len = np.linalg.norm(p1 - p0, axis=1)
    half = int(np.ceil(seg_len.max() / 2 + stroke_width + 1))
    mid = (p0 + p1) / 2
    px, py = _patch_grid(mid[:, 0], mid[:, 1], half)
    d = p1 - p0
    t = ((px - p0[:, 0, None, None]) * d[:, 0, None, None] + (py - p0[:, 1, None, None]) * d[:, 1, None, None])
    t = np.clip(t / np.maximum(seg_len**2, 1e-12)[:, None, None], 0.0, 1.0)
    ex = px - (p0[:, 0, None, None] + t * d[:, 0, None, None])
    ey = py - (p0[:, 1, None, None] + t * d[:, 1, None, None])
    cover = np.clip(stroke_width / 2 + 0.5 - np.sqrt(ex * ex + ey * ey), 0.0, 1.0)
    seg_colors = (region_colors[starts] + region_colors[ends]) / 2
    _composite(image, _accumulate(size, size, px, py, cover, seg_colors), opacity=0.35)

    # Dots: disc of radius dot_radius with a 1 px linear soft edge, centred at the exact landmark.
    half = int(np.ceil(dot_radius + 1))
    px, py = _patch_grid(points[:, 0], points[:, 1], half)
    r = np.sqrt((px - points[:, 0, None, None]) ** 2 + (py - points[:, 1, None, None]) ** 2)
    cover = np.clip(dot_radius + 0.5 - r, 0.0, 1.0)
    _composite(image, _accumulate(size, size, px, py, cover, region_colors))

    image += rng.normal(0.0, colors["noise"], image.shape)
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def random_face_colors(rng) -> dict:
    """Random skin, background and per-region feature colours (RGB in [0, 1])."""
    skin = np.array([0.55, 0.40, 0.30]) + rng.uniform(-0.2, 0.35) + rng.uniform(-0.05, 0.05, 3)
    skin = np.clip(skin, 0.25, 0.95)
    dark = rng.uniform(0.05, 0.2)
    regions = np.array([
        skin * 0.55,                                        # jaw contour
        [dark + 0.08, dark + 0.04, dark],                   # brows
        skin * 0.65 + np.array([0.05, 0.0, 0.0]),            # nose
        [dark * 0.5, dark * 0.5, dark * 0.8],               # eyes
        [rng.uniform(0.6, 0.85), 0.15, 0.2],               # outer lips
        [0.35, 0.05, 0.08],                                 # inner lips
    ])
    return {
        "skin": skin,
        "regions": np.clip(regions, 0.0, 1.0),
        "background": (rng.uniform(0.0, 1.0, 3), rng.uniform(0.0, 1.0, 3)),
        "bg_angle": rng.uniform(0, 2 * np.pi),
        "noise": rng.uniform(0.005, 0.025),
    }


def synthetic_face(seed: int | Sequence[int], image_size: int = 128, landmark_indices=None) -> dict:
    """One seeded face-like RGB image with exact landmarks.

    Returns ``{"image": uint8 (H, W, 3), "landmarks": float32 (N, 2), "box": float32 (4,)}``; ``box``
    is the tight xyxy box of all 68 landmarks. ``landmark_indices`` selects a subset of the 68 points
    (e.g. ``[36, 45, 30, 48, 54]``). Same seed -> identical arrays.
    """
    rng = np.random.default_rng(seed)
    shape = face_template(
        brow_raise=rng.uniform(-0.02, 0.04),
        eye_open=rng.uniform(0.8, 1.2),
        mouth_open=rng.uniform(0.0, 1.0) ** 2 * 0.08,
        mouth_width=rng.uniform(0.85, 1.15),
    )
    shape = shape + rng.normal(0.0, 0.004, shape.shape)
    # Random similarity (plus a mild aspect change): face spans 50-75 % of the image.
    scale = rng.uniform(0.5, 0.75) * image_size
    aspect = rng.uniform(0.9, 1.1)
    angle = np.deg2rad(rng.uniform(-20, 20))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    lin = rot @ np.diag([scale * aspect, scale])
    rel = (shape - 0.5) @ lin.T
    dot_radius = max(0.75, 1.2 * image_size / 128)
    margin = dot_radius + 2.0  # keep every dot fully inside the image
    lo = margin - rel.min(0)
    hi = image_size - 1 - margin - rel.max(0)
    centre = rng.uniform(np.minimum(lo, hi), np.maximum(lo, hi))
    points = rel + centre

    face_centre = (np.array([0.5, 0.42]) - 0.5) @ lin.T + centre
    face_axes = np.array([0.53 * scale * aspect, 0.58 * scale])
    image = render_face(
        points,
        (face_centre, face_axes, angle),
        random_face_colors(rng),
        rng,
        image_size,
        dot_radius=dot_radius,
        stroke_width=max(0.5, 0.8 * image_size / 128),
    )
    box = np.array([*points.min(0), *points.max(0)], dtype=np.float32)
    if landmark_indices is not None:
        points = points[np.asarray(landmark_indices, dtype=int)]
    return {"image": image, "landmarks": points.astype(np.float32), "box": box}


def synthetic_faces(num_samples: int, image_size: int = 128, seed: int = 0, landmark_indices=None) -> list[dict]:
    """``num_samples`` faces; sample ``i`` uses the seed ``(seed, i)``, so different seeds never overlap."""
    return [synthetic_face((seed, i), image_size, landmark_indices) for i in range(num_samples)]


def synthetic_face_dataset(num_samples: int, image_size: int = 128, seed: int = 0, landmark_indices=None):
    """Synthetic faces as a ``datasets.Dataset`` with the reader columns
    (``image``, ``landmarks``, ``box``, ``image_path`` = ``""``)."""
    import io

    import datasets
    from PIL import Image

    from .formats.ibug_pts import landmark_features

    def png(array):  # fast lossless encoding (compress_level=1) instead of the default PNG level
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="PNG", compress_level=1)
        return {"bytes": buffer.getvalue(), "path": None}

    faces = synthetic_faces(num_samples, image_size, seed, landmark_indices)
    data = {
        "image": [png(f["image"]) for f in faces],
        "landmarks": [f["landmarks"].tolist() for f in faces],
        "box": [f["box"].tolist() for f in faces],
        "image_path": [""] * len(faces),
    }
    return datasets.Dataset.from_dict(data, features=landmark_features())


__all__ = [
    "MEAN_FACE_68",
    "MIRROR_68",
    "face_template",
    "random_face_colors",
    "render_face",
    "synthetic_face",
    "synthetic_face_dataset",
    "synthetic_faces",
]
