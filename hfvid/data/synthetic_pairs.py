"""Seeded synthetic "videos" of one identity each, for face-to-face synthesis (GANnotation) with exact landmarks.

Two kinds, both pure numpy:

* ``faces``: the 68-point faces of :mod:`hfvid.data.synthetic`; colours, background, face proportions and a
  per-person landmark offset pattern are fixed per video, while expression (brows, eyes, mouth), in-plane rotation,
  scale and position change per frame, so the image geometry follows the landmarks exactly.
* ``blobs``: the tiny learning task of the GANnotation spec: a coloured ellipse (colour = identity) on a plain
  background with 5 dark blobs at the landmarks (eyes, nose tip, mouth corners) that move per frame.

Coordinates are 0-based with pixel ``k`` centred at ``k``.
"""

from __future__ import annotations

import numpy as np

from .synthetic import face_template, random_face_colors, render_face

# the 5 points of the blob faces in the unit box: eye centres, nose tip, mouth corners
BLOB_TEMPLATE = np.array([[0.32, 0.36], [0.68, 0.36], [0.5, 0.56], [0.36, 0.74], [0.64, 0.74]])


def _similarity(angle_degrees: float, scale: float) -> np.ndarray:
    angle = np.deg2rad(angle_degrees)
    return scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])


def synthetic_face_video(seed, num_frames: int, image_size: int = 128, max_rotation: float = 15.0) -> dict:
    """One person, ``num_frames`` frames: ``{"images": uint8 (T, H, W, 3), "landmarks": float32 (T, 68, 2)}``."""
    person = np.random.default_rng((*np.atleast_1d(seed).tolist(), 0))
    colors = random_face_colors(person)
    offsets = person.normal(0.0, 0.01, (68, 2))
    aspect = person.uniform(0.92, 1.08)
    base_scale = person.uniform(0.55, 0.68) * image_size
    images, landmarks = [], []
    for frame in range(num_frames):
        rng = np.random.default_rng((*np.atleast_1d(seed).tolist(), frame + 1))
        shape = face_template(brow_raise=rng.uniform(-0.02, 0.05), eye_open=rng.uniform(0.5, 1.3),
                          mouth_open=rng.uniform(0.0, 1.0) ** 2 * 0.12, mouth_width=rng.uniform(0.8, 1.2))
        shape = shape + offsets
        scale = base_scale * rng.uniform(0.92, 1.08)
        angle = rng.uniform(-max_rotation, max_rotation)
        linear = _similarity(angle, 1.0) @ np.diag([scale * aspect, scale])
        centre = image_size / 2 + rng.normal(0.0, 0.04 * image_size, 2)
        points = (shape - 0.5) @ linear.T + centre
        face_centre = (np.array([0.5, 0.42]) - 0.5) @ linear.T + centre
        axes = np.array([0.53 * scale * aspect, 0.58 * scale])
        image = render_face(points, (face_centre, axes, np.deg2rad(angle)), colors, rng, image_size,
                        dot_radius=max(0.75, 1.2 * image_size / 128), stroke_width=max(0.5, 0.8 * image_size / 128))
        images.append(image)
        landmarks.append(points)
    return {"images": np.stack(images), "landmarks": np.stack(landmarks).astype(np.float32)}


def blob_face_video(seed, num_frames: int, image_size: int = 32, blob_radius: float | None = None) -> dict:
    """One ellipse "person" with 5 moving dark blobs: ``{"images" (T, H, W, 3) uint8, "landmarks" (T, 5, 2)}``."""
    person = np.random.default_rng((*np.atleast_1d(seed).tolist(), 0))
    skin = person.uniform(0.35, 0.95, 3)
    background = person.uniform(0.0, 1.0, 3)
    centre = image_size / 2 + person.normal(0.0, 0.03 * image_size, 2)
    axes = np.array([0.36, 0.44]) * image_size * person.uniform(0.9, 1.1)
    radius = blob_radius or max(1.2, image_size / 20)
    yy, xx = np.mgrid[0:image_size, 0:image_size].astype(np.float64)
    inside = np.clip(0.5 - (np.sqrt(((xx - centre[0]) / axes[0]) ** 2 + ((yy - centre[1]) / axes[1]) ** 2) - 1)
                     * axes.min(), 0.0, 1.0)[..., None]
    face = background * (1 - inside) + skin * inside
    images, landmarks = [], []
    for frame in range(num_frames):
        rng = np.random.default_rng((*np.atleast_1d(seed).tolist(), frame + 1))
        linear = _similarity(rng.uniform(-20, 20), 2 * axes.mean() * rng.uniform(0.85, 1.1))
        points = (BLOB_TEMPLATE - 0.5) @ linear.T + centre + rng.normal(0.0, 0.03 * image_size, 2)
        points = points + rng.normal(0.0, 0.015 * image_size, points.shape)
        distance = np.sqrt((xx[..., None] - points[:, 0]) ** 2 + (yy[..., None] - points[:, 1]) ** 2).min(-1)
        cover = np.clip(radius + 0.5 - distance, 0.0, 1.0)[..., None]
        image = face * (1 - cover) + 0.05 * cover
        images.append((np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8))
        landmarks.append(points)
    return {"images": np.stack(images), "landmarks": np.stack(landmarks).astype(np.float32)}


def synthetic_videos(num_videos: int, frames_per_video: int, image_size: int = 128, seed: int = 0,
                     kind: str = "faces") -> list[dict]:
    """``num_videos`` one-identity clips ``{"video_id", "images", "landmarks"}``; video ``i`` has seed ``(seed, i)``."""
    makers = {"faces": synthetic_face_video, "blobs": blob_face_video}
    if kind not in makers:
        raise ValueError(f"kind must be one of {tuple(makers)}, got {kind!r}")
    return [{"video_id": f"{kind}_{seed}_{i}", **makers[kind]((seed, i), frames_per_video, image_size)}
            for i in range(num_videos)]


__all__ = ["BLOB_TEMPLATE", "blob_face_video", "synthetic_face_video", "synthetic_videos"]
