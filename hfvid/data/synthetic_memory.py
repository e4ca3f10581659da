"""The synthetic long-term-memory task of the MeMSVD spec (section 7): the query alone is ambiguous, memory is not.

K classes with random unit mean directions ``mu_k`` in R^d. A sample of class ``y`` has a memory of N features
``mu_y a_i + 0.3 eps_i`` (``a_i ~ U(0.5, 1.5)``) and a query ``h = mu_y + mu_y' + 0.1 eps`` with a random distractor
``y' != y``: from ``h`` alone a model can only narrow the class to two candidates (about 50% accuracy), while the
memory's dominant direction says which of the two it is.
"""

import numpy as np


def synthetic_memory_task(num_samples: int, num_classes: int = 8, feature_dim: int = 32, memory_size: int = 40,
                          memory_noise: float = 0.3, query_noise: float = 0.1, seed: int = 0,
                          class_seed: int = 1234) -> dict:
    """Arrays ``query (S, d)``, ``memory (S, N, d)``, ``label (S,)``, ``distractor (S,)``, ``means (K, d)``.

    ``class_seed`` fixes the class directions (shared by train and test splits); ``seed`` draws the samples.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    means = np.random.default_rng(class_seed).standard_normal((num_classes, feature_dim))
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    label = rng.integers(0, num_classes, num_samples)
    distractor = (label + rng.integers(1, num_classes, num_samples)) % num_classes
    scale = rng.uniform(0.5, 1.5, (num_samples, memory_size, 1))
    memory = means[label][:, None] * scale + memory_noise * rng.standard_normal((num_samples, memory_size, feature_dim))
    query = means[label] + means[distractor] + query_noise * rng.standard_normal((num_samples, feature_dim))
    return {
        "query": query.astype(np.float32),
        "memory": memory.astype(np.float32),
        "label": label.astype(np.int64),
        "distractor": distractor.astype(np.int64),
        "means": means.astype(np.float32),
    }




def synthetic_memory_video(memory: np.ndarray, query: np.ndarray, actors_per_second: int = 5, fps: float = 2.0,
                           cell: int = 4, gap: int = 1) -> dict:
    """One sample of :func:`synthetic_memory_task` as a "video" of feature maps, for the streaming pipeline.

    Frames are ``(H, W, d)`` float32 maps (zero background). Second ``s`` (frames with timestamps in
    ``[s - 0.5, s + 0.5)``) shows ``actors_per_second`` actors as ``cell x cell`` squares filled with their memory
    features; the last second shows one actor with the query feature (the keyframe). ``RoIAlignActorEncoder()``
    on these frames returns exactly those features.

    Returns ``{"frames": [(timestamp, map)], "boxes": {second: [[x1, y1, x2, y2], ...]}, "keyframe": second}``.
    """
    memory = np.asarray(memory, np.float32)
    seconds = [memory[i : i + actors_per_second] for i in range(0, len(memory), actors_per_second)]
    seconds.append(np.asarray(query, np.float32).reshape(1, -1))
    width = actors_per_second * (cell + gap) + gap
    height = cell + 2 * gap
    slots = [[gap + i * (cell + gap), gap, gap + i * (cell + gap) + cell, gap + cell] for i in range(actors_per_second)]
    frames, boxes = [], {}
    per_second = max(1, int(round(fps)))
    for second, features in enumerate(seconds):
        image = np.zeros((height, width, memory.shape[-1]), np.float32)
        for (x1, y1, x2, y2), feature in zip(slots, features):
            image[y1:y2, x1:x2] = feature
        boxes[second] = [[float(v) for v in slot] for slot in slots[: len(features)]]
        frames += [(second - 0.5 + k / per_second, image) for k in range(per_second)]
    return {"frames": frames, "boxes": boxes, "keyframe": len(seconds) - 1}


__all__ = ["synthetic_memory_task", "synthetic_memory_video"]
