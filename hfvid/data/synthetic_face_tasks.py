"""Seeded synthetic data for the five face tasks of the FRL benchmark, with exact labels.

Built on the renderer of :mod:`hfvid.data.synthetic` (face ellipse + one dot per landmark + contour strokes); what
changes is which face parameters carry the label:

* identities: skin/feature colours, face aspect and a per-identity landmark offset pattern are fixed per identity;
  pose, background, noise and a little expression change per image;
* expressions: 4 classes with a valence/arousal pair drawn around each class centre; mouth width, mouth opening,
  brow raise and eye opening are linear in (valence, arousal), strong enough that a linear probe on the pixels of
  box-aligned 32 px crops separates the classes (~80 %) while the same probe on the uncropped images is at chance;
* action units: per subject and video, smooth intensity curves (0-5) of 4 AU-like parameters over the frames;
* 3D alignment: a depth template for the 68 points, rotated in yaw (+-70 degrees) before projection.

Every record has ``box``, the tight xyxy box of its 2D landmarks (what a detector would give). Coordinates are
0-based with pixel ``k`` centred at ``k`` (as in :mod:`hfvid.data.synthetic`).
"""

from __future__ import annotations

import numpy as np

from .synthetic import face_template, random_face_colors, render_face

EXPRESSION_NAMES = ("neutral", "happy", "surprise", "sad")
EXPRESSION_CENTERS = np.array([[0.0, 0.0], [0.7, 0.3], [0.2, 0.8], [-0.6, -0.4]])  # (valence, arousal)
AU_NAMES = ("AU1", "AU5", "AU12", "AU26")  # brow raise, upper lid raise, lip corner pull, jaw drop


def _depth_68() -> np.ndarray:
    """Relative depth (towards the camera, face-width units) of the 68 template points: a rounded face, nose out."""
    pts = face_template()
    x = (pts[:, 0] - 0.5) / 0.5
    depth = 0.35 * np.sqrt(np.clip(1.0 - 0.8 * x**2, 0.0, None))
    depth[27:36] += 0.12 * np.linspace(0.3, 1.0, 9)
    depth[30] += 0.05
    return depth


DEPTH_68 = _depth_68()


def tight_box(points) -> np.ndarray:
    """The xyxy box (4,) float32 of 2D points (N, 2): the face box the benchmark crops with."""
    points = np.asarray(points)
    return np.array([*points.min(0), *points.max(0)], dtype=np.float32)


def _face_from_shape(shape, rng, image_size, colors, yaw_degrees=0.0, angle_range=20.0):
    """Render a unit-box shape (68, 2) with a random similarity; returns image, 2D points and 3D points (x, y, z)."""
    yaw = np.deg2rad(yaw_degrees)
    rel3 = np.concatenate([shape - 0.5, DEPTH_68[:, None]], axis=1)
    x = rel3[:, 0] * np.cos(yaw) + rel3[:, 2] * np.sin(yaw)
    z = -rel3[:, 0] * np.sin(yaw) + rel3[:, 2] * np.cos(yaw)
    scale = rng.uniform(0.55, 0.72) * image_size
    aspect = rng.uniform(0.95, 1.05)
    angle = np.deg2rad(rng.uniform(-angle_range, angle_range))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    lin = rot @ np.diag([scale * aspect, scale])
    rel = np.stack([x, rel3[:, 1]], 1) @ lin.T
    dot_radius = max(0.75, 1.2 * image_size / 128)
    margin = dot_radius + 2.0
    lo, hi = margin - rel.min(0), image_size - 1 - margin - rel.max(0)
    centre = rng.uniform(np.minimum(lo, hi), np.maximum(lo, hi))
    points = rel + centre
    face_centre = np.array([np.sin(yaw) * 0.1, -0.08]) @ lin.T + centre
    axes = np.array([0.53 * scale * aspect * (0.75 + 0.25 * np.cos(yaw)), 0.58 * scale])
    image = render_face(points, (face_centre, axes, angle), colors, rng, image_size, dot_radius=dot_radius,
                    stroke_width=max(0.5, 0.8 * image_size / 128))
    points_3d = np.concatenate([points, (z * scale)[:, None]], axis=1)
    return image, points.astype(np.float32), points_3d.astype(np.float32)


def synthetic_identity_faces(num_identities: int, images_per_identity: int, image_size: int = 64,
                             seed: int = 0) -> list[dict]:
    """Faces of ``num_identities`` synthetic people: records ``{"image", "identity", "landmarks"}``.

    Identity ``i`` of ``seed`` is always the same person (seeded by ``(seed, i)``), so disjoint id ranges give
    disjoint people for open-set verification.
    """
    records = []
    for identity in range(num_identities):
        person = np.random.default_rng((seed, identity, 0))
        colors = random_face_colors(person)
        base = dict(brow_raise=person.uniform(-0.02, 0.04), eye_open=person.uniform(0.8, 1.2),
                    mouth_width=person.uniform(0.85, 1.15))
        offsets = person.normal(0.0, 0.015, (68, 2))
        for image_index in range(images_per_identity):
            rng = np.random.default_rng((seed, identity, image_index + 1))
            shape = face_template(mouth_open=rng.uniform(0.0, 0.03), **base) + offsets + rng.normal(0.0, 0.002, (68, 2))
            view_colors = dict(colors, background=(rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)),
                               bg_angle=rng.uniform(0, 2 * np.pi))
            image, points, _ = _face_from_shape(shape, rng, image_size, view_colors)
            records.append({"image": image, "identity": identity, "landmarks": points, "box": tight_box(points)})
    return records


def expression_shape(valence: float, arousal: float, rng=None) -> np.ndarray:
    """The 68-point unit-box shape of a face with this valence/arousal (plus optional small noise)."""
    shape = face_template(brow_raise=0.06 * arousal, eye_open=1.0 + 0.5 * arousal,
                          mouth_open=0.16 * max(arousal, 0.0), mouth_width=1.0 + 0.4 * valence)
    return shape if rng is None else shape + rng.normal(0.0, 0.003, shape.shape)


def synthetic_expression_faces(num_samples: int, image_size: int = 64, seed: int = 0) -> list[dict]:
    """Records ``{"image", "label", "valence_arousal"}``; classes cycle through :data:`EXPRESSION_NAMES`."""
    records = []
    for index in range(num_samples):
        rng = np.random.default_rng((seed, index))
        label = index % len(EXPRESSION_NAMES)
        va = np.clip(EXPRESSION_CENTERS[label] + rng.normal(0.0, 0.12, 2), -1.0, 1.0)
        image, points, _ = _face_from_shape(expression_shape(*va, rng), rng, image_size, random_face_colors(rng))
        records.append({"image": image, "label": label, "valence_arousal": va.astype(np.float32),
                        "box": tight_box(points)})
    return records


def au_shape(intensities, rng=None) -> np.ndarray:
    """Shape driven by the 4 AU intensities (0-5) of :data:`AU_NAMES`."""
    au1, au5, au12, au26 = np.asarray(intensities, dtype=np.float64)
    shape = face_template(brow_raise=0.01 * au1, eye_open=0.8 + 0.1 * au5, mouth_width=0.85 + 0.08 * au12,
                      mouth_open=0.018 * au26)
    return shape if rng is None else shape + rng.normal(0.0, 0.002, shape.shape)


def synthetic_au_videos(num_subjects: int, videos_per_subject: int = 2, frames_per_video: int = 16,
                        image_size: int = 64, seed: int = 0) -> list[dict]:
    """Frames ``{"image", "intensities" (4,), "subject", "video", "frame"}``: smooth AU curves per video."""
    records = []
    for subject in range(num_subjects):
        person = np.random.default_rng((seed, subject, 0))
        colors = random_face_colors(person)
        offsets = person.normal(0.0, 0.01, (68, 2))
        for video in range(videos_per_subject):
            clip = np.random.default_rng((seed, subject, video + 1))
            freq, phase = clip.uniform(0.5, 2.0, 4), clip.uniform(0, 2 * np.pi, 4)
            level, amplitude = clip.uniform(0.5, 3.0, 4), clip.uniform(1.0, 3.0, 4)
            for frame in range(frames_per_video):
                rng = np.random.default_rng((seed, subject, video + 1, frame))
                t = frame / max(frames_per_video - 1, 1)
                intensities = np.clip(level + amplitude * np.sin(2 * np.pi * freq * t + phase), 0.0, 5.0)
                image, points, _ = _face_from_shape(au_shape(intensities, rng) + offsets, rng, image_size, colors,
                                                    angle_range=8.0)
                records.append({"image": image, "intensities": intensities.astype(np.float32), "subject": subject,
                                "video": f"{subject}_{video}", "frame": frame, "box": tight_box(points)})
    return records


def synthetic_3d_faces(num_samples: int, image_size: int = 64, seed: int = 0, max_yaw: float = 70.0) -> list[dict]:
    """Records ``{"image", "landmarks_3d" (68, 3), "yaw"}`` (z in pixels, towards the camera)."""
    records = []
    for index in range(num_samples):
        rng = np.random.default_rng((seed, index))
        yaw = rng.uniform(-max_yaw, max_yaw)
        shape = expression_shape(rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5), rng)
        image, points, points_3d = _face_from_shape(shape, rng, image_size, random_face_colors(rng), yaw_degrees=yaw)
        records.append({"image": image, "landmarks_3d": points_3d, "yaw": float(yaw), "box": tight_box(points)})
    return records


__all__ = [
    "AU_NAMES",
    "DEPTH_68",
    "EXPRESSION_CENTERS",
    "EXPRESSION_NAMES",
    "au_shape",
    "expression_shape",
    "synthetic_3d_faces",
    "synthetic_au_videos",
    "synthetic_expression_faces",
    "synthetic_identity_faces",
    "tight_box",
]
