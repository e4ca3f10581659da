"""Synthetic "shapes in motion" videos whose action is describable in text, and rule-based captioners for them.

A video shows one shape (square / circle / triangle) of one colour (red / green / blue) crossing the frame in one
direction (left / right / up / down): 36 action classes such as ``"red square moves left"``, ground-truth caption
``"a red square moves left"``. They let REST's whole pipeline run on a CPU in seconds:

- :func:`frame_teacher_caption` is an *image* captioner: it sees one frame, so it can only say ``"a red square"``
  (like image-only pseudo-captions, which lack the action);
- :func:`clip_teacher_caption` looks at the whole clip and names the motion too; :func:`synthetic_caption_pool`
  uses it for a fraction of the videos, standing in for the action-specific captions a real image captioner writes
  for some frames of some videos;
- :func:`video_bow_embedding` / :func:`text_bow_embedding` are a pixel-based "CLIP" over the synthetic vocabulary,
  used to retrieve captions for videos. None of these looks at the labels: everything is measured from pixels.
"""

import numpy as np

COLOURS = {"red": (220, 40, 40), "green": (40, 200, 40), "blue": (40, 60, 230)}
SHAPES = ("square", "circle", "triangle")
MOTIONS = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
VOCABULARY = (*COLOURS, *SHAPES, *MOTIONS)


def action_classes(colours=tuple(COLOURS), shapes=SHAPES) -> list[str]:
    """Class names ``"<colour> <shape> moves <motion>"`` (36 with every colour and shape, 12 with one shape); the
    index in this list is the label."""
    if not colours or not shapes or set(colours) - set(COLOURS) or set(shapes) - set(SHAPES):
        raise ValueError(f"colours and shapes must be non-empty subsets of {tuple(COLOURS)} and {SHAPES}, got "
                         f"{colours} and {shapes}")
    return [f"{c} {s} moves {m}" for c in colours for s in shapes for m in MOTIONS]


def _draw(image: np.ndarray, shape: str, colour, cx: float, cy: float, radius: float) -> None:
    h, w = image.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    dx, dy = xs - cx, ys - cy
    if shape == "square":
        mask = (np.abs(dx) <= radius) & (np.abs(dy) <= radius)
    elif shape == "circle":
        mask = dx**2 + dy**2 <= radius**2
    else:  # upward triangle: apex at the top, base at the bottom of the bounding square
        mask = (dy <= radius) & (dy >= -radius) & (np.abs(dx) <= (dy + radius) / 2)
    image[mask] = colour


def shapes_in_motion(num_videos: int, num_frames: int = 4, image_size: int = 32, seed: int = 0,
                     labels: list[int] | None = None, colours=tuple(COLOURS), shapes=SHAPES) -> list[dict]:
    """Seeded videos ``{"video_id", "frames" (T, S, S, 3) uint8, "colour", "shape", "motion", "caption", "label",
    "label_name"}``; classes are drawn uniformly from ``labels`` (indices into ``action_classes(colours, shapes)``, default
    all of them)."""
    if num_videos < 1 or num_frames < 2 or image_size < 16:
        raise ValueError(f"need num_videos >= 1, num_frames >= 2 and image_size >= 16, got {num_videos}, "
                         f"{num_frames}, {image_size}")
    classes = action_classes(colours, shapes)
    labels = list(range(len(classes))) if labels is None else list(labels)
    rng = np.random.default_rng(seed)
    radius = image_size * 0.18
    travel = image_size - 2 * radius - 4
    videos = []
    for index in range(num_videos):
        label = int(labels[rng.integers(len(labels))])
        colour, shape, _, motion = classes[label].split()
        (mx, my), across = MOTIONS[motion], rng.uniform(radius + 2, image_size - radius - 2)
        start = radius + 2 + rng.uniform(0, 2)
        frames = np.empty((num_frames, image_size, image_size, 3), np.uint8)
        for t in range(num_frames):
            along = start + travel * t / (num_frames - 1)
            along = along if mx + my > 0 else image_size - along
            cx, cy = (along, across) if mx else (across, along)
            frame = np.full((image_size, image_size, 3), 30, np.float64) + rng.normal(0, 4, (image_size, image_size, 3))
            frame = frame.clip(0, 255).astype(np.uint8)
            _draw(frame, shape, COLOURS[colour], cx, cy, radius)
            frames[t] = frame
        videos.append({"video_id": f"shapes-{seed}-{index:05d}", "frames": frames, "colour": colour, "shape": shape,
                       "motion": motion, "caption": f"a {classes[label]}", "label": label,
                       "label_name": classes[label]})
    return videos


def _foreground(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame, dtype=np.int32)
    return (frame.max(-1) - frame.min(-1)) > 80


def _describe_frame(frame: np.ndarray) -> tuple[str, str] | None:
    """(colour, shape) seen in one frame, from pixels: dominant channel and bounding-box fill ratio."""
    mask = _foreground(frame)
    if mask.sum() < 4:
        return None
    mean = np.asarray(frame, dtype=np.float64)[mask].mean(0)
    colour = min(COLOURS, key=lambda name: np.abs(np.array(COLOURS[name]) - mean).sum())
    ys, xs = np.nonzero(mask)
    fill = mask.sum() / ((ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1))
    shape = "square" if fill > 0.9 else "circle" if fill > 0.66 else "triangle"
    return colour, shape


def _motion(frames) -> str | None:
    """Direction of the foreground centroid from the first to the last frame."""
    centres = []
    for frame in (frames[0], frames[-1]):
        ys, xs = np.nonzero(_foreground(frame))
        if len(xs) == 0:
            return None
        centres.append((xs.mean(), ys.mean()))
    dx, dy = centres[1][0] - centres[0][0], centres[1][1] - centres[0][1]
    if abs(dx) >= abs(dy):
        return "right" if dx > 0 else "left"
    return "down" if dy > 0 else "up"


def frame_teacher_caption(frame) -> str:
    """Image captioner: one frame -> ``"a red square"`` (it cannot see motion); ``"an empty frame"`` if nothing."""
    seen = _describe_frame(frame)
    return "an empty frame" if seen is None else f"a {seen[0]} {seen[1]}"


def clip_teacher_caption(frames) -> str:
    """Captioner that sees the whole clip: ``"a red square moves left"``."""
    seen, motion = _describe_frame(frames[0]), _motion(frames)
    if seen is None or motion is None:
        return "an empty frame"
    return f"a {seen[0]} {seen[1]} moves {motion}"


def synthetic_caption_pool(videos, frames_per_video: int = 2, action_fraction: float = 0.3, seed: int = 0) -> list[dict]:
    """Pool rows ``{"video_id", "frame_idx", "caption", "source"}``: the frame teacher's caption of
    ``frames_per_video`` frames of every video, plus the clip teacher's for ``action_fraction`` of the videos."""
    rng = np.random.default_rng(seed)
    rows = []
    for video in videos:
        frames = video["frames"]
        for t in np.linspace(0, len(frames) - 1, frames_per_video).round().astype(int):
            rows.append({"video_id": video["video_id"], "frame_idx": int(t), "caption": frame_teacher_caption(frames[t]),
                         "source": "frame_teacher"})
        if rng.random() < action_fraction:
            rows.append({"video_id": video["video_id"], "frame_idx": -1, "caption": clip_teacher_caption(frames),
                         "source": "clip_teacher"})
    return rows


def text_bow_embedding(texts) -> np.ndarray:
    """Bag-of-words vectors ``(N, |VOCABULARY|)`` of captions over the synthetic vocabulary."""
    texts = [texts] if isinstance(texts, str) else list(texts)
    out = np.zeros((len(texts), len(VOCABULARY)), np.float32)
    for row, text in enumerate(texts):
        for word in text.lower().split():
            if word in VOCABULARY:
                out[row, VOCABULARY.index(word)] = 1.0
    return out


def video_bow_embedding(frames) -> np.ndarray:
    """Pixel-measured colour, shape and motion of a clip as a bag-of-words vector ``(|VOCABULARY|,)``."""
    seen, motion = _describe_frame(frames[0]), _motion(frames)
    words = ([] if seen is None else list(seen)) + ([] if motion is None else [motion])
    return text_bow_embedding(" ".join(words))[0]


__all__ = [
    "COLOURS",
    "MOTIONS",
    "SHAPES",
    "VOCABULARY",
    "action_classes",
    "clip_teacher_caption",
    "frame_teacher_caption",
    "shapes_in_motion",
    "synthetic_caption_pool",
    "text_bow_embedding",
    "video_bow_embedding",
]
