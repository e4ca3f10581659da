"""Seeded "moving actors" videos: coloured squares on grey noise, with exact keyframe boxes and multi-label actions.

The task of the BMViT spec (section 7): every square is a person; its actions are `moving_left`, `moving_right`
(only identifiable from several frames), `red` and `large`. Targets belong to the keyframe (frame
`num_frames // 2`), boxes are normalised `(x1, y1, x2, y2)` pixel-edge coordinates (AVA convention), so a square
covering pixels `x..x+s-1` has `x1 = x / W`, `x2 = (x + s) / W`.
"""

import numpy as np

ACTION_NAMES = ("moving_left", "moving_right", "red", "large")
RED = (200, 40, 40)
OTHER_COLOURS = ((40, 170, 60), (50, 90, 210), (210, 200, 60))
SMALL_SIDES, LARGE_SIDES = (6, 7), (10, 11, 12)


def _background(rng, frames: int, size: int) -> np.ndarray:
    level = rng.uniform(90, 160)
    return np.clip(level + rng.normal(0, 12, (frames, size, size, 1)), 0, 255).repeat(3, axis=-1)


def synthetic_actor_clip(seed, num_frames: int = 4, image_size: int = 32, max_actors: int = 3, speed: int = 2,
                         keyframe_index: int | None = None) -> dict:
    """One clip: `frames` `(T, S, S, 3)` uint8, keyframe `boxes` `(G, 4)` and `action_labels` `(G, 4)`.

    1..`max_actors` squares of side 6-7 (small) or 10-12 (large) px move `-speed`, 0 or `+speed` px/frame
    horizontally (and -1..1 vertically) and stay inside the frame; their keyframe boxes overlap by IoU < 0.3.
    """
    if num_frames < 1 or image_size < 2 * max(LARGE_SIDES) or max_actors < 1:
        raise ValueError(f"need num_frames >= 1, image_size >= {2 * max(LARGE_SIDES)} and max_actors >= 1")
    rng = np.random.default_rng(seed)
    key = num_frames // 2 if keyframe_index is None else keyframe_index
    frames = _background(rng, num_frames, image_size)
    boxes, actions = [], []
    for _ in range(int(rng.integers(1, max_actors + 1))):
        for _attempt in range(20):
            large = bool(rng.integers(2))
            side = int(rng.choice(LARGE_SIDES if large else SMALL_SIDES))
            vx, vy = int(rng.choice([-speed, 0, speed])), int(rng.integers(-1, 2))
            # keyframe position such that the square stays inside every frame
            lo_x = max(0, -min(vx * (t - key) for t in range(num_frames)))
            hi_x = image_size - side - max(vx * (t - key) for t in range(num_frames))
            lo_y = max(0, -min(vy * (t - key) for t in range(num_frames)))
            hi_y = image_size - side - max(vy * (t - key) for t in range(num_frames))
            if hi_x < lo_x or hi_y < lo_y:
                continue
            x, y = int(rng.integers(lo_x, hi_x + 1)), int(rng.integers(lo_y, hi_y + 1))
            box = np.array([x, y, x + side, y + side], np.float32) / image_size
            if all(_iou(box, other) < 0.3 for other in boxes):
                break
        else:
            continue
        red = bool(rng.integers(2))
        colour = np.array(RED if red else OTHER_COLOURS[int(rng.integers(len(OTHER_COLOURS)))], np.float64)
        for t in range(num_frames):
            fx, fy = x + vx * (t - key), y + vy * (t - key)
            frames[t, fy:fy + side, fx:fx + side] = colour + rng.normal(0, 6, (side, side, 3))
        boxes.append(box)
        actions.append([vx < 0, vx > 0, red, large])
    return {
        "frames": np.clip(frames, 0, 255).astype(np.uint8),
        "boxes": np.array(boxes, np.float32).reshape(-1, 4),
        "action_labels": np.array(actions, np.float32).reshape(-1, len(ACTION_NAMES)),
        "keyframe_index": key,
    }


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def synthetic_actor_clips(num_clips: int, seed: int = 0, **kwargs) -> list[dict]:
    """`num_clips` clips from seeds `(seed, 0..num_clips-1)` (see :func:`synthetic_actor_clip`)."""
    return [synthetic_actor_clip((seed, i), **kwargs) for i in range(num_clips)]


def synthetic_actor_video(num_frames: int, image_size: int = 32, num_actors: int = 2, seed: int = 0) -> dict:
    """A longer video of squares bouncing off the borders: `frames` `(T, S, S, 3)` uint8 and per-frame `boxes`
    `(T, num_actors, 4)` normalised xyxy (for pipeline and streaming tests)."""
    rng = np.random.default_rng(seed)
    frames = _background(rng, num_frames, image_size)
    boxes = np.zeros((num_frames, num_actors, 4), np.float32)
    for a in range(num_actors):
        side = int(rng.choice(SMALL_SIDES + LARGE_SIDES))
        colour = np.array(RED if a % 2 == 0 else OTHER_COLOURS[0], np.float64)
        x, y = int(rng.integers(0, image_size - side)), int(rng.integers(0, image_size - side))
        vx, vy = int(rng.choice([-2, 2])), int(rng.choice([-1, 1]))
        for t in range(num_frames):
            frames[t, y:y + side, x:x + side] = colour
            boxes[t, a] = np.array([x, y, x + side, y + side]) / image_size
            if not 0 <= x + vx <= image_size - side:
                vx = -vx
            if not 0 <= y + vy <= image_size - side:
                vy = -vy
            x, y = x + vx, y + vy
    return {"frames": np.clip(frames, 0, 255).astype(np.uint8), "boxes": boxes}


__all__ = ["ACTION_NAMES", "synthetic_actor_clip", "synthetic_actor_clips", "synthetic_actor_video"]
