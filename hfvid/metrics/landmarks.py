"""Facial landmark metrics: NME, failure rate, CED and AUC.

Pure numpy; inputs may be numpy arrays, torch tensors or nested lists. Conventions follow the
usual landmark-benchmark definitions (see ``subpixel_heatmap.md`` section 5):

``NME_i = mean_{k visible} ||P_ik - G_ik|| / d_i`` with ``d_i`` an inter-ocular, inter-pupil,
box (``sqrt(w*h)``) or box-diagonal normaliser; ``NME = 100 * mean_i NME_i``.
"""

from __future__ import annotations

import numpy as np

NORMALIZATIONS = ("inter_ocular", "inter_pupil", "box", "diag")

# Outer eye corners per landmark layout (0-based); COFW-29 uses 8/9 as in the HRNet evaluation code.
OUTER_EYE_CORNERS = {68: (36, 45), 98: (60, 72), 29: (8, 9)}


def _to_numpy(x, dtype=np.float64) -> np.ndarray:
    """Convert a numpy array, torch tensor or nested list to a numpy array."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def _check_points(points: np.ndarray, name: str) -> np.ndarray:
    if points.ndim != 3 or points.shape[-1] != 2:
        raise ValueError(f"{name} must have shape (M, N, 2), got {points.shape}")
    if points.shape[0] == 0 or points.shape[1] == 0:
        raise ValueError(f"{name} must contain at least one image and one point, got {points.shape}")
    return points


def _check_boxes(boxes, num_images: int) -> np.ndarray:
    boxes = _to_numpy(boxes)
    if boxes.shape != (num_images, 4):
        raise ValueError(f"boxes must have shape ({num_images}, 4) in xyxy format, got {boxes.shape}")
    bad = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
    if bad.any():
        raise ValueError(f"boxes must satisfy x2 > x1 and y2 > y1 (xyxy); invalid rows: {np.flatnonzero(bad).tolist()}")
    return boxes


def _box_sides(references: np.ndarray, boxes) -> tuple[np.ndarray, np.ndarray]:
    """Width and height of the given boxes, or of the tight box around the reference points."""
    if boxes is None:
        w = references[..., 0].max(axis=1) - references[..., 0].min(axis=1)
        h = references[..., 1].max(axis=1) - references[..., 1].min(axis=1)
        return w, h
    boxes = _check_boxes(boxes, references.shape[0])
    return boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]


def normalization_distances(references, normalization: str = "inter_ocular", eye_indices=None, boxes=None) -> np.ndarray:
    """Per-image normalising distance ``d_i`` (shape ``(M,)``) for the chosen normalisation.

    ``inter_ocular``: distance between the outer eye corners (68: 36/45, 98: 60/72, 29: 8/9, or
    ``eye_indices``). ``inter_pupil``: distance between eye centres (68: means of 36-41 and 42-47;
    98: points 96/97). ``box``: ``sqrt(w*h)`` of ``boxes`` (xyxy) or of the tight box of the
    references. ``diag``: ``sqrt(w**2 + h**2)`` of the same box.
    """
    refs = _check_points(_to_numpy(references), "references")
    n = refs.shape[1]
    if normalization == "inter_ocular":
        if eye_indices is None:
            if n not in OUTER_EYE_CORNERS:
                raise ValueError(
                    f"inter_ocular normalization has no default eye corners for {n} landmarks "
                    f"(known: {sorted(OUTER_EYE_CORNERS)}); pass eye_indices=(i, j)"
                )
            eye_indices = OUTER_EYE_CORNERS[n]
        i, j = (int(k) for k in eye_indices)
        if not (0 <= i < n and 0 <= j < n):
            raise ValueError(f"eye_indices {tuple(eye_indices)} out of range for {n} landmarks")
        d = np.linalg.norm(refs[:, i] - refs[:, j], axis=-1)
    elif normalization == "inter_pupil":
        if n == 68:
            left, right = refs[:, 36:42].mean(axis=1), refs[:, 42:48].mean(axis=1)
        elif n == 98:
            left, right = refs[:, 96], refs[:, 97]
        else:
            raise ValueError(f"inter_pupil normalization is defined for 68 or 98 landmarks, got {n}")
        d = np.linalg.norm(left - right, axis=-1)
    elif normalization in ("box", "diag"):
        w, h = _box_sides(refs, boxes)
        d = np.sqrt(w * h) if normalization == "box" else np.sqrt(w**2 + h**2)
    else:
        raise ValueError(f"unknown normalization {normalization!r}; expected one of {NORMALIZATIONS}")
    zero = ~(d > 0)
    if zero.any():
        raise ValueError(
            f"{normalization} normalising distance is zero (or not finite) for images {np.flatnonzero(zero).tolist()}"
        )
    return d


def per_image_nme(
    predictions,
    references,
    *,
    normalization: str = "inter_ocular",
    eye_indices=None,
    boxes=None,
    visible=None,
    ignore_invisible: bool = True,
) -> np.ndarray:
    """Per-image normalised mean error ``NME_i`` as a fraction (not percent), shape ``(M,)``.

    With ``visible`` (M, N) bool, only visible points contribute. ``ignore_invisible=True`` divides
    by the number of visible points; ``False`` divides by N (HRNet's COFW convention).
    """
    preds = _check_points(_to_numpy(predictions), "predictions")
    refs = _check_points(_to_numpy(references), "references")
    if preds.shape != refs.shape:
        raise ValueError(f"predictions {preds.shape} and references {refs.shape} must have the same shape")
    d = normalization_distances(refs, normalization, eye_indices=eye_indices, boxes=boxes)
    err = np.linalg.norm(preds - refs, axis=-1)  # (M, N)
    if visible is None:
        return err.mean(axis=1) / d
    vis = _to_numpy(visible, dtype=bool)
    if vis.shape != err.shape:
        raise ValueError(f"visible must have shape {err.shape}, got {vis.shape}")
    total = (err * vis).sum(axis=1)
    if ignore_invisible:
        count = vis.sum(axis=1)
        if (count == 0).any():
            raise ValueError(f"no visible landmarks for images {np.flatnonzero(count == 0).tolist()}")
        return total / count / d
    return total / err.shape[1] / d


def failure_rate(per_image, threshold: float) -> float:
    """Percentage of images whose ``NME_i`` (fraction) is strictly greater than ``threshold``."""
    nme = _to_numpy(per_image).reshape(-1)
    return float(100.0 * np.mean(nme > threshold))


def ced(per_image, thresholds) -> np.ndarray:
    """Cumulative error distribution: fraction of images with ``NME_i <= e`` for each threshold ``e``."""
    nme = _to_numpy(per_image).reshape(-1)
    e = _to_numpy(thresholds).reshape(-1)
    return (nme[None, :] <= e[:, None]).mean(axis=1)


def auc(per_image, threshold: float, step: float = 1e-4) -> float:
    """Area under the CED curve up to ``threshold``, normalised to [0, 1].

    ``(1/a) * integral_0^a CED(e) de``, evaluated with the trapezoid rule on the grid
    ``0, step, 2*step, ..., a`` (HRNet uses Simpson's rule; the difference is O(step)).
    """
    if threshold <= 0:
        raise ValueError(f"AUC threshold must be positive, got {threshold}")
    num = int(round(threshold / step)) + 1
    grid = np.linspace(0.0, threshold, max(num, 2))
    curve = ced(per_image, grid)
    return float(np.trapezoid(curve, grid) / threshold)


def landmark_metrics(
    predictions,
    references,
    *,
    normalization: str = "inter_ocular",
    eye_indices=None,
    boxes=None,
    visible=None,
    ignore_invisible: bool = True,
    failure_threshold: float = 0.10,
    auc_threshold: float | None = None,
) -> dict:
    """All standard landmark metrics in one dict.

    Keys: ``"nme"`` (percent), ``"fr@{a:g}"`` (percent), ``"auc@{a:g}"`` (fraction in [0, 1]; ``a`` is
    ``auc_threshold`` or ``failure_threshold``), ``"normalization"`` and ``"per_image_nme"`` (fractions).
    """
    nme = per_image_nme(
        predictions,
        references,
        normalization=normalization,
        eye_indices=eye_indices,
        boxes=boxes,
        visible=visible,
        ignore_invisible=ignore_invisible,
    )
    a = failure_threshold if auc_threshold is None else auc_threshold
    return {
        "nme": float(100.0 * nme.mean()),
        f"fr@{failure_threshold:g}": failure_rate(nme, failure_threshold),
        f"auc@{a:g}": auc(nme, a),
        "normalization": normalization,
        "per_image_nme": [float(v) for v in nme],
    }


def _build_evaluate_metric():
    """Create the ``evaluate.Metric`` wrapper lazily (importing ``evaluate`` takes seconds)."""
    import datasets
    import evaluate

    class FacialLandmarkNME(evaluate.Metric):
        """``evaluate`` wrapper around :func:`landmark_metrics` (``facial_landmark_nme``)."""

        def _info(self):
            points = datasets.Sequence(datasets.Sequence(datasets.Value("float32")))
            return evaluate.MetricInfo(
                description="Normalised mean error, failure rate and CED-AUC for facial landmarks.",
                citation="",
                inputs_description="predictions, references: (N, 2) landmark arrays per image.",
                features=datasets.Features({"predictions": points, "references": points}),
            )

        def _compute(self, predictions, references, **kwargs):
            return landmark_metrics(predictions, references, **kwargs)

    return FacialLandmarkNME


def __getattr__(name):
    if name == "FacialLandmarkNME":
        cls = _build_evaluate_metric()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# `FacialLandmarkNME` is reachable as an attribute but kept out of __all__ so star-imports stay light.
__all__ = [
    "NORMALIZATIONS",
    "OUTER_EYE_CORNERS",
    "auc",
    "ced",
    "failure_rate",
    "landmark_metrics",
    "normalization_distances",
    "per_image_nme",
]
