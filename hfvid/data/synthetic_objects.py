"""Seeded synthetic "objects" with K distinctive parts under random similarity transforms, for unsupervised
landmark discovery (Keypoints-to-Landmarks, spec section 7 item 10).

Each image shows a grey elliptic body carrying K parts placed on a fixed template; part ``k`` is a textured patch
with its own colour and stripe orientation, so it is recognisable in every image. The object is rotated, scaled and
shifted at random, and random clutter blobs are drawn on a noisy background. Ground truth: the K part centres
(``landmarks``, used only to *evaluate*), and generic keypoints = part centres + random clutter points (``keypoints``,
with ``keypoint_parts`` = part id or -1 for clutter), the stand-in for a generic keypoint detector.
"""

from __future__ import annotations

import math

import numpy as np

PART_COLOURS = np.array([
    (230, 40, 40), (40, 200, 60), (50, 90, 235), (240, 215, 40), (170, 60, 200),
    (250, 140, 30), (40, 210, 220), (245, 120, 185), (120, 80, 30), (20, 20, 20),
], dtype=np.float32)


def object_template(num_parts: int) -> np.ndarray:
    """Part centres (K, 2) of the template object, in units of the image side around the centre (asymmetric)."""
    if not 1 <= num_parts <= len(PART_COLOURS):
        raise ValueError(f"num_parts must be in [1, {len(PART_COLOURS)}], got {num_parts}")
    angles = np.linspace(0.0, 2 * np.pi, num_parts, endpoint=False) + 0.35
    radii = 0.24 + 0.05 * np.cos(3 * angles)
    return np.stack([radii * np.cos(angles) * 1.15, radii * np.sin(angles)], axis=1).astype(np.float32)


def synthetic_object(
    seed,
    image_size: int = 64,
    num_parts: int = 5,
    num_clutter: int = 5,
    max_rotation: float = 30.0,
    scale_range: tuple[float, float] = (0.85, 1.1),
    max_shift: float = 0.06,
) -> dict:
    """One record ``{"image" (S, S, 3) uint8, "box", "landmarks" (K, 2), "keypoints" (K + C, 2),
    "keypoint_parts" (K + C,)}``; coordinates in image pixels (pixel centres at integers)."""
    rng = np.random.default_rng(seed)
    size = image_size
    angle = math.radians(rng.uniform(-max_rotation, max_rotation))
    scale = rng.uniform(*scale_range) * size
    centre = (size - 1) / 2 + rng.uniform(-max_shift, max_shift, size=2) * size
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], np.float32)
    landmarks = object_template(num_parts) @ rotation.T * scale + centre

    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    image = rng.uniform(60, 110, size=(size, size, 3)).astype(np.float32)  # noisy background
    for _ in range(num_clutter):  # clutter blobs in random colours
        cx, cy = rng.uniform(0, size, size=2)
        radius = rng.uniform(0.03, 0.06) * size
        image[(x - cx) ** 2 + (y - cy) ** 2 <= radius**2] = rng.uniform(40, 220, size=3)
    # the body: an ellipse along the object's rotated x axis
    u = (x - centre[0]) * math.cos(angle) + (y - centre[1]) * math.sin(angle)
    v = -(x - centre[0]) * math.sin(angle) + (y - centre[1]) * math.cos(angle)
    body = (u / (0.4 * scale)) ** 2 + (v / (0.34 * scale)) ** 2 <= 1.0
    image[body] = 0.5 * image[body] + 0.5 * np.array([150, 150, 150], np.float32)
    half = 0.075 * scale
    for part, (px, py) in enumerate(landmarks):
        pu = (x - px) * math.cos(angle) + (y - py) * math.sin(angle)
        pv = -(x - px) * math.sin(angle) + (y - py) * math.cos(angle)
        patch = (np.abs(pu) <= half) & (np.abs(pv) <= half)
        stripe_angle = part * np.pi / len(PART_COLOURS)
        stripes = np.cos((pu * math.cos(stripe_angle) + pv * math.sin(stripe_angle)) * (2.2 / half)) > 0
        colour = PART_COLOURS[part]
        image[patch & stripes] = colour
        image[patch & ~stripes] = 0.45 * colour + 0.55 * 255.0
    image = np.clip(image + rng.normal(0, 4, size=image.shape), 0, 255).astype(np.uint8)

    clutter = rng.uniform(0.05, 0.95, size=(num_clutter, 2)).astype(np.float32) * (size - 1)
    keypoints = np.concatenate([landmarks, clutter]).astype(np.float32)
    parts = np.concatenate([np.arange(num_parts), np.full(num_clutter, -1)])
    order = rng.permutation(len(keypoints))  # a detector gives points in no particular order
    return {
        "image": image,
        "box": [0.0, 0.0, size - 1.0, size - 1.0],  # inclusive pixel box: the whole image
        "landmarks": landmarks.astype(np.float32),
        "keypoints": keypoints[order],
        "keypoint_parts": parts[order],
    }


def synthetic_objects(num_samples: int, image_size: int = 64, num_parts: int = 5, num_clutter: int = 5,
                      seed: int = 0, **kwargs) -> list[dict]:
    """``num_samples`` records of :func:`synthetic_object`; record ``i`` uses the seed ``(seed, i)``."""
    if num_samples < 0:
        raise ValueError(f"num_samples must be >= 0, got {num_samples}")
    return [synthetic_object((seed, i), image_size, num_parts, num_clutter, **kwargs) for i in range(num_samples)]


__all__ = ["PART_COLOURS", "object_template", "synthetic_object", "synthetic_objects"]
