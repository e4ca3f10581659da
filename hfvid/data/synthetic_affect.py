"""Seeded synthetic affect / AU-intensity sequences whose labels can only be read with temporal context.

Every sequence ("subject") has a hidden per-output offset ``d_s`` that its *appearance* carries but its *labels* do
not: a face that always looks a bit "more aroused" (or always shows some brow wrinkle) without being so. A frame on
its own cannot separate ``y_t`` from ``d_s``; many frames of the same sequence can (the labels are zero-mean per
sequence for valence/arousal, mostly zero for AUs). This is the task of ``affective_processes.md`` section 7:
frame-wise models can only shrink towards the mean, a model with temporal context (Affective Processes) can
subtract the offset.

* :func:`affect_curves`: the label curves (``task="va"``: smooth sinusoids in [-1, 1]; ``task="au"``: sparse
  onset-apex-offset events, integer apex 1-5, 10-40 frames, on [0, 5]) and the hidden offsets.
* :func:`synthetic_affect_features`: the feature-level task (features ``P (y + d) + noise``, biased pseudo-labels
  ``y + d + noise``), for fast CPU learning checks of the temporal model alone.
* :func:`render_affect_frames` / :func:`synthetic_affect_videos` / :func:`iter_synthetic_affect_frames`: RGB
  frames whose coloured blobs brighten with ``y + d`` over a per-sequence background texture ("identity").
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

VA_NAMES = ["valence", "arousal"]
AU_NAMES = ["AU01", "AU06", "AU12"]  # brow, eye (cheek raiser), mouth (lip-corner puller): blob positions below
TASKS = ("va", "au")


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")


def _va_curve(rng, length: int) -> np.ndarray:
    a, omega, phi = rng.uniform(0.3, 1.0), rng.uniform(0.05, 0.2), rng.uniform(0, 2 * np.pi)
    y = a * np.sin(omega * np.arange(length) + phi)
    return y - y.mean()


def _au_curve(rng, length: int) -> np.ndarray:
    y = np.zeros(length)
    t = int(rng.integers(0, 30))
    while t < length:
        duration, apex = int(rng.integers(10, 41)), int(rng.integers(1, 6))
        shape = np.sin(np.linspace(0, np.pi, duration)) * apex  # onset - apex - offset
        end = min(t + duration, length)
        y[t:end] = np.maximum(y[t:end], np.round(shape[: end - t]))
        t = end + int(rng.integers(20, 80))
    return y


def affect_curves(num_sequences: int, length: int, task: str = "va", num_outputs: int | None = None,
                  offset_std: float = 1.0, seed: int = 0) -> dict[str, np.ndarray]:
    """Label curves ``labels (N, T, K)`` and hidden appearance offsets ``offsets (N, K)`` (float32).

    VA: zero-mean sinusoids clipped to [-1, 1], offsets ``N(0, offset_std)``. AU: integer sparse events on
    [0, 5], offsets ``U(0, offset_std)`` (a resting wrinkle that is not an action).
    """
    _check_task(task)
    if num_sequences < 1 or length < 1:
        raise ValueError(f"need num_sequences >= 1 and length >= 1, got {num_sequences}, {length}")
    k = num_outputs or (len(VA_NAMES) if task == "va" else len(AU_NAMES))
    rng = np.random.default_rng(seed)
    curve = _va_curve if task == "va" else _au_curve
    labels = np.stack([np.stack([curve(rng, length) for _ in range(k)], -1) for _ in range(num_sequences)])
    if task == "va":
        labels = np.clip(labels, -1.0, 1.0)
        offsets = rng.normal(0.0, offset_std, size=(num_sequences, k))
    else:
        offsets = rng.uniform(0.0, offset_std, size=(num_sequences, k))
    return {"labels": labels.astype(np.float32), "offsets": offsets.astype(np.float32)}


def synthetic_affect_features(num_sequences: int = 256, length: int = 64, num_outputs: int = 2,
                              feature_dim: int = 16, noise: float = 0.1, seed: int = 0,
                              projection_seed: int = 1234) -> dict[str, np.ndarray]:
    """The feature-level task: ``features (N, T, D) = P (y + d) + noise``, ``pseudo_labels = y + d + noise``.

    ``P`` (``D x K``) depends only on ``projection_seed``, so train and validation sets share it.
    """
    curves = affect_curves(num_sequences, length, "va", num_outputs, seed=seed)
    rng = np.random.default_rng(seed + 1)
    projection = np.random.default_rng(projection_seed).normal(size=(feature_dim, num_outputs))
    expressed = curves["labels"] + curves["offsets"][:, None, :]
    features = expressed @ projection.T + noise * rng.normal(size=(num_sequences, length, feature_dim))
    pseudo = expressed + noise * rng.normal(size=expressed.shape)
    return {"features": features.astype(np.float32), "pseudo_labels": pseudo.astype(np.float32),
            "labels": curves["labels"], "offsets": curves["offsets"]}


def _templates(num_outputs: int, image_size: int) -> np.ndarray:
    """One Gaussian blob per output, spread over the face from top (brow) to bottom (mouth)."""
    yy, xx = np.mgrid[0:image_size, 0:image_size] / image_size
    templates = []
    for k in range(num_outputs):
        cy = 0.2 + 0.6 * (k + 0.5) / num_outputs
        cx = 0.3 if k % 2 == 0 else 0.7
        templates.append(np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 0.08**2)))
    return np.stack(templates).astype(np.float32)


def _identity_texture(rng, image_size: int) -> np.ndarray:
    """A smooth random RGB background (low-frequency sinusoids): the sequence's 'identity'."""
    yy, xx = np.mgrid[0:image_size, 0:image_size] / image_size
    texture = np.zeros((image_size, image_size, 3))
    for c in range(3):
        for _ in range(3):
            fy, fx, phase = rng.uniform(0.5, 2.5), rng.uniform(0.5, 2.5), rng.uniform(0, 2 * np.pi)
            texture[..., c] += np.sin(2 * np.pi * (fy * yy + fx * xx) + phase)
    return 0.5 + 0.08 * texture / 3


def _amplitude(expressed: np.ndarray, task: str) -> np.ndarray:
    return np.clip(0.5 + 0.12 * expressed, 0, 1) if task == "va" else np.clip(expressed / 6.0, 0, 1)


def render_affect_frames(expressed: np.ndarray, task: str = "va", image_size: int = 32, seed: int = 0,
                         noise: float = 0.02) -> Iterator[np.ndarray]:
    """Yield one ``(H, W, 3)`` uint8 frame per row of ``expressed (T, K)`` (labels + hidden offsets).

    Blob ``k`` (colour channel ``k % 3``) brightens with ``expressed[:, k]`` over the sequence's background.
    """
    _check_task(task)
    rng = np.random.default_rng(seed)
    background = _identity_texture(rng, image_size)
    templates = _templates(expressed.shape[1], image_size)
    colours = np.eye(3)[np.arange(expressed.shape[1]) % 3] * 0.8 + 0.2
    for row in np.asarray(expressed, dtype=np.float64):
        blobs = np.einsum("k,khw,kc->hwc", _amplitude(row, task) - 0.25, templates, colours)
        image = background + blobs + noise * rng.normal(size=background.shape)
        yield (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


def synthetic_affect_videos(num_sequences: int, length: int, task: str = "va", image_size: int = 32,
                            offset_std: float = 1.0, seed: int = 0) -> list[dict]:
    """Short videos in memory: per sequence ``{"video_id", "frames" (T, H, W, 3) uint8, "labels" (T, K),
    "offsets" (K,)}``."""
    curves = affect_curves(num_sequences, length, task, offset_std=offset_std, seed=seed)
    videos = []
    for i, (labels, offsets) in enumerate(zip(curves["labels"], curves["offsets"])):
        frames = np.stack(list(render_affect_frames(labels + offsets, task, image_size, seed=seed * 100_003 + i)))
        videos.append({"video_id": f"synthetic_{task}_{seed}_{i:04d}", "frames": frames, "labels": labels,
                       "offsets": offsets})
    return videos


def iter_synthetic_affect_frames(num_frames: int, task: str = "va", image_size: int = 32,
                                 segment_length: int = 256, seed: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """A long video, lazily: ``(frame, labels)`` pairs; every ``segment_length`` frames a new curve and offset."""
    segment = 0
    while segment * segment_length < num_frames:
        count = min(segment_length, num_frames - segment * segment_length)
        curves = affect_curves(1, segment_length, task, seed=seed * 7919 + segment)
        labels, offsets = curves["labels"][0, :count], curves["offsets"][0]
        yield from zip(render_affect_frames(labels + offsets, task, image_size, seed=seed + segment), labels)
        segment += 1


__all__ = [
    "AU_NAMES",
    "TASKS",
    "VA_NAMES",
    "affect_curves",
    "iter_synthetic_affect_frames",
    "render_affect_frames",
    "synthetic_affect_features",
    "synthetic_affect_videos",
]
