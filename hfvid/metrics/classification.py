"""Classification metrics: top-k accuracy, the base/new harmonic mean, and the CoOp-protocol averaging rules.

Accuracies are percentages (0-100), as papers report them. Pure numpy; inputs may be numpy arrays, torch tensors or
lists.
"""

from collections.abc import Mapping

import numpy as np


def _as_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def top_k_accuracy(scores, labels, k: int = 1) -> float:
    """Percentage of rows whose true label is among the ``k`` highest scores (``scores`` (N, C), ``labels`` (N,)).

    Ties are broken towards the lower class index (stable sort), so a constant score row is not "correct" for
    every label.
    """
    scores, labels = _as_numpy(scores), _as_numpy(labels).astype(np.int64)
    if scores.ndim != 2 or labels.shape != (scores.shape[0],):
        raise ValueError(f"scores must be (N, C) and labels (N,), got {scores.shape} and {labels.shape}")
    if scores.shape[0] == 0:
        raise ValueError("top_k_accuracy needs at least one prediction")
    if not 1 <= k <= scores.shape[1]:
        raise ValueError(f"k must be in [1, num_classes={scores.shape[1]}], got {k}")
    if labels.min() < 0 or labels.max() >= scores.shape[1]:
        raise ValueError(f"labels must be class indices in [0, {scores.shape[1]})")
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(100.0 * (top == labels[:, None]).any(axis=1).mean())


def accuracy(predictions, labels) -> float:
    """Percentage of predicted class indices equal to the labels."""
    predictions, labels = _as_numpy(predictions).reshape(-1), _as_numpy(labels).reshape(-1)
    if predictions.shape != labels.shape or predictions.size == 0:
        raise ValueError(f"predictions and labels must be equal-length non-empty, got {predictions.shape}, {labels.shape}")
    return float(100.0 * (predictions == labels).mean())


def classification_metrics(scores, labels) -> dict:
    """``{"top1": ..., "top5": ...}`` (top-5 only with at least 5 classes)."""
    scores = _as_numpy(scores)
    metrics = {"top1": top_k_accuracy(scores, labels, 1)}
    if scores.shape[1] >= 5:
        metrics["top5"] = top_k_accuracy(scores, labels, 5)
    return metrics


def harmonic_mean(base: float, new: float) -> float:
    """``H = 2 base new / (base + new)`` (0 when both are 0), the base-to-new generalisation score."""
    if base < 0 or new < 0:
        raise ValueError(f"accuracies must be >= 0, got base={base}, new={new}")
    return 0.0 if base + new == 0 else 2.0 * base * new / (base + new)


def average_base_new(results: Mapping[str, Mapping[str, float]]) -> dict:
    """The "Average" row of a base-to-new table: mean base, mean new, and H *of those means* (CoCoOp/BPL rule).

    ``results`` maps a dataset name to ``{"base": ..., "new": ...}`` (seed-averaged). Note the H of the means is not
    the mean of per-dataset H values.
    """
    if not results:
        raise ValueError("average_base_new needs at least one dataset")
    base = float(np.mean([r["base"] for r in results.values()]))
    new = float(np.mean([r["new"] for r in results.values()]))
    return {"base": base, "new": new, "harmonic_mean": harmonic_mean(base, new)}


__all__ = ["accuracy", "average_base_new", "classification_metrics", "harmonic_mean", "top_k_accuracy"]
