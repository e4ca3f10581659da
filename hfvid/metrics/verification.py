"""Face verification metrics: TAR@FAR (IJB-B/C 1:1 style), k-fold verification accuracy (LFW style), templates.

Pure numpy; inputs may be numpy arrays, torch tensors or lists. Scores are similarities (higher = same identity).
"""

from __future__ import annotations

import numpy as np


def _as_numpy(x, dtype=np.float64) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def _split_scores(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    scores, labels = _as_numpy(scores).reshape(-1), _as_numpy(labels, bool).reshape(-1)
    if scores.shape != labels.shape:
        raise ValueError(f"scores and labels must have the same length, got {scores.shape} and {labels.shape}")
    genuine, impostor = scores[labels], scores[~labels]
    if not len(genuine) or not len(impostor):
        raise ValueError(f"need genuine and impostor pairs, got {len(genuine)} genuine and {len(impostor)} impostor")
    return genuine, impostor


def tar_at_far(scores, labels, far: float | list[float] = (1e-4, 1e-5)) -> dict[str, float]:
    """True-accept rate at each false-accept rate: the threshold is the smallest impostor score that accepts at
    most ``far`` of the impostor pairs (strictly greater accepts); TAR = share of genuine pairs above it.

    Returns ``{"tar@far=1e-04": ..., ...}``. With fewer than ``1 / far`` impostor pairs the threshold is the largest
    impostor score (the finest FAR the data can resolve); the result then says so with ``"resolution_limited"``.
    """
    genuine, impostor = _split_scores(scores, labels)
    fars = [far] if np.isscalar(far) else list(far)
    ordered = np.sort(impostor)[::-1]
    results = {}
    for value in fars:
        if not 0 < value <= 1:
            raise ValueError(f"far must be in (0, 1], got {value}")
        allowed = int(np.floor(value * len(ordered)))  # impostors that may score above the threshold
        threshold = ordered[min(allowed, len(ordered) - 1)]
        results[f"tar@far={value:.0e}"] = float(np.mean(genuine > threshold))
    results["resolution_limited"] = bool(min(fars) * len(ordered) < 1)
    return results


def best_threshold_accuracy(scores, labels) -> tuple[float, float]:
    """(threshold, accuracy) of the threshold that best separates genuine (``score > t``) from impostor pairs."""
    scores, labels = _as_numpy(scores).reshape(-1), _as_numpy(labels, bool).reshape(-1)
    candidates = np.unique(scores)
    thresholds = np.concatenate([[candidates[0] - 1.0], (candidates[1:] + candidates[:-1]) / 2, [candidates[-1]]])
    accuracies = [np.mean((scores > t) == labels) for t in thresholds]
    best = int(np.argmax(accuracies))
    return float(thresholds[best]), float(accuracies[best])


def verification_accuracy(scores, labels, num_folds: int = 10) -> dict[str, float]:
    """LFW-style accuracy: for each of ``num_folds`` contiguous folds, pick the best threshold on the other folds
    and measure accuracy on this one. Returns ``{"accuracy", "accuracy_std", "threshold"}`` (mean threshold)."""
    scores, labels = _as_numpy(scores).reshape(-1), _as_numpy(labels, bool).reshape(-1)
    _split_scores(scores, labels)
    if not 2 <= num_folds <= len(scores):
        raise ValueError(f"num_folds must be in [2, number of pairs={len(scores)}], got {num_folds}")
    folds = np.array_split(np.arange(len(scores)), num_folds)
    accuracies, thresholds = [], []
    for fold in folds:
        train = np.setdiff1d(np.arange(len(scores)), fold)
        threshold, _ = best_threshold_accuracy(scores[train], labels[train])
        accuracies.append(np.mean((scores[fold] > threshold) == labels[fold]))
        thresholds.append(threshold)
    return {"accuracy": float(np.mean(accuracies)), "accuracy_std": float(np.std(accuracies)),
            "threshold": float(np.mean(thresholds))}


def template_features(features, template_ids, media_ids=None) -> tuple[np.ndarray, np.ndarray]:
    """IJB template features: L2-normalise image features, average within each media, average the media of a
    template, L2-normalise. Returns ``(template ids (T,), features (T, D))``."""
    features = _as_numpy(features)
    templates = _as_numpy(template_ids, np.int64).reshape(-1)
    media = templates if media_ids is None else _as_numpy(media_ids, np.int64).reshape(-1)
    if features.ndim != 2 or len(features) != len(templates) or len(media) != len(templates):
        raise ValueError(f"features must be (N, D) with N template_ids and media_ids, got {features.shape}, "
                         f"{templates.shape}, {media.shape}")
    unit = features / np.linalg.norm(features, axis=1, keepdims=True).clip(1e-12)
    ids = np.unique(templates)
    pooled = np.zeros((len(ids), features.shape[1]))
    for row, template in enumerate(ids):
        rows = templates == template
        media_means = [unit[rows & (media == m)].mean(0) for m in np.unique(media[rows])]
        pooled[row] = np.mean(media_means, axis=0)
    return ids, pooled / np.linalg.norm(pooled, axis=1, keepdims=True).clip(1e-12)


def pair_scores(features_1, features_2) -> np.ndarray:
    """Cosine similarity of each row pair."""
    a, b = _as_numpy(features_1), _as_numpy(features_2)
    a = a / np.linalg.norm(a, axis=-1, keepdims=True).clip(1e-12)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True).clip(1e-12)
    return (a * b).sum(-1)


__all__ = ["best_threshold_accuracy", "pair_scores", "tar_at_far", "template_features", "verification_accuracy"]
