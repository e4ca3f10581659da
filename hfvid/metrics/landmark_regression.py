"""Forward / backward landmark regression: how linearly discovered landmarks relate to human annotations.

Unsupervised landmarks have arbitrary identities, so they are scored through a ridge regressor
(Keypoints-to-Landmarks, "type2" in the official code). With ``X~ = X / S - 0.5`` and ``Y~ = Y / S - 0.5``, centred by
their training means ``x0``/``y0``::

    C = Xc^T Xc;  R = Yc^T Xc (C + lambda * max(C) * I)^-1;  y^ = S * (R (x / S - 0.5 - x0) + y0 + 0.5)

* forward (discovered K -> annotated L): ``fwd = mean_i (1/L) sum_l ||y^_il - y_il|| / d_i``;
* backward (annotations -> each discovered landmark k, fitted only on images where k was found):
  ``bwd = mean_k mean_i ||x^_ik - x_ik|| / d_i``.

``d_i`` is the annotation normaliser (``inter_ocular``, ``box`` = sqrt(w*h) of the annotations' tight box, ... from
:func:`hfvid.metrics.landmarks.normalization_distances`, or given per image). Missing discovered landmarks are NaN:
forward imputes them by soft-impute (singular value thresholding) on the training matrix and by the training column
means on test rows (a landmark never found in the training images is left out). Errors are fractions; :func:`landmark_regression_nme` reports percent.
"""

from __future__ import annotations

import numpy as np

from .landmarks import _to_numpy, normalization_distances

DIRECTIONS = ("forward", "backward")


def _flat(points, name: str) -> np.ndarray:
    """(M, N, 2) points -> (M, 2N) rows ``x0, y0, x1, y1, ...``."""
    array = _to_numpy(points)
    if array.ndim != 3 or array.shape[-1] != 2 or array.shape[0] == 0:
        raise ValueError(f"{name} must have shape (num_images, num_points, 2) with num_images >= 1, got {array.shape}")
    return array.reshape(len(array), -1)


def fit_ridge(inputs, targets, ridge_lambda: float = 1e-3, scale: float = 1.0) -> dict:
    """Fit the "type2" ridge regressor from rows ``inputs`` (M, P) to rows ``targets`` (M, Q); returns its state."""
    x = np.asarray(inputs, np.float64) / scale - 0.5
    y = np.asarray(targets, np.float64) / scale - 0.5
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"need the same positive number of input and target rows, got {len(x)} and {len(y)}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("fit_ridge got NaN/inf values; impute missing landmarks first (see soft_impute)")
    x0, y0 = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - x0, y - y0
    gram = xc.T @ xc
    regularised = gram + ridge_lambda * max(gram.max(), 1e-12) * np.eye(len(gram))
    weights = np.linalg.solve(regularised, xc.T @ yc).T  # = Yc^T Xc (C + lambda max(C) I)^-1 (C symmetric)
    return {"weights": weights, "x0": x0, "y0": y0, "scale": scale}


def predict_ridge(state: dict, inputs) -> np.ndarray:
    """Apply a fitted regressor to rows (M, P) -> (M, Q)."""
    x = np.asarray(inputs, np.float64) / state["scale"] - 0.5 - state["x0"]
    return state["scale"] * (x @ state["weights"].T + state["y0"] + 0.5)


def soft_impute(matrix, threshold: float = 0.01, max_iter: int = 500, tol: float = 1e-7) -> np.ndarray:
    """Fill the NaN entries of ``matrix`` by singular value soft-thresholding (Mazumder et al. 2010).

    Iterates ``Z <- SVT_threshold(observed + Z on the missing entries)`` on the column-centred matrix; the amount
    subtracted from every singular value is ``threshold`` times the largest singular value of the mean-filled matrix
    (unit-free, so pixel and normalised coordinates behave alike; the official code's SVT settings are not
    reproduced). Observed entries are returned unchanged.
    """
    matrix = np.asarray(matrix, np.float64)
    missing = ~np.isfinite(matrix)
    if not missing.any():
        return matrix.copy()
    if missing.all(axis=0).any():
        raise ValueError(f"columns {np.flatnonzero(missing.all(axis=0)).tolist()} have no observed value to impute from")
    means = np.nanmean(matrix, axis=0)
    filled = np.where(missing, means, matrix)
    shrink = threshold * np.linalg.svd(filled - means, compute_uv=False)[0]
    estimate = filled
    for _ in range(max_iter):
        u, s, vt = np.linalg.svd(estimate - means, full_matrices=False)
        low_rank = (u * np.maximum(s - shrink, 0.0)) @ vt + means
        updated = np.where(missing, low_rank, matrix)
        change = np.linalg.norm(updated - estimate) / max(np.linalg.norm(estimate), 1e-12)
        estimate = updated
        if change < tol:
            break
    return estimate


def _distances(references, normalizer, eye_indices) -> np.ndarray:
    if isinstance(normalizer, str):
        return normalization_distances(references, normalizer, eye_indices=eye_indices)
    d = _to_numpy(normalizer).reshape(-1)
    if len(d) != len(_to_numpy(references)) or not (d > 0).all():
        raise ValueError(f"normalizer array must hold one positive distance per test image, got shape {d.shape}")
    return d


def _check_annotations(points: np.ndarray, name: str) -> None:
    if not np.isfinite(points).all():
        rows = np.flatnonzero(~np.isfinite(points).all(axis=(1, 2)))
        raise ValueError(f"{name} has missing (NaN/inf) annotated points in images {rows[:10].tolist()}; "
                         "annotations must be complete")


def forward_error(predictions, references, train_predictions, train_references, ridge_lambda=1e-3,
                  normalizer="inter_ocular", eye_indices=None, scale: float = 1.0,
                  impute_threshold: float = 0.01) -> np.ndarray:
    """Per-test-image forward error (fraction): regress annotations from discovered landmarks (NaN = missing)."""
    train_x, test_x = _flat(train_predictions, "train_predictions"), _flat(predictions, "predictions")
    train_refs, refs = _to_numpy(train_references), _to_numpy(references)
    train_y, test_y = _flat(train_refs, "train_references"), _flat(refs, "references")
    _check_annotations(train_refs, "train_references"), _check_annotations(refs, "references")
    if len(train_x) != len(train_y) or len(test_x) != len(test_y):
        raise ValueError("predictions and references must have one row per image (train and test alike)")
    found = np.isfinite(train_x).any(axis=0)  # a landmark never found in training cannot be used
    train_x, test_x = train_x[:, found], test_x[:, found]
    if train_x.shape[1] == 0:
        raise ValueError("no discovered landmark was found in any training image")
    train_x = soft_impute(train_x, impute_threshold)
    means = train_x.mean(axis=0)
    test_x = np.where(np.isfinite(test_x), test_x, means)
    estimate = predict_ridge(fit_ridge(train_x, train_y, ridge_lambda, scale), test_x).reshape(refs.shape)
    errors = np.linalg.norm(estimate - refs, axis=-1).mean(axis=1)
    return errors / _distances(refs, normalizer, eye_indices)


def backward_error(predictions, references, train_predictions, train_references, ridge_lambda=0.1,
                   normalizer="inter_ocular", eye_indices=None, scale: float = 1.0) -> np.ndarray:
    """Per-landmark backward error (fraction, shape (K,)): regress each discovered landmark from the annotations,
    fitted and tested on the images where that landmark was found (NaN where a landmark is never found)."""
    train_x, test_x = _to_numpy(train_predictions), _to_numpy(predictions)
    train_refs, refs = _to_numpy(train_references), _to_numpy(references)
    train_y, test_y = _flat(train_refs, "train_references"), _flat(refs, "references")
    _flat(train_x, "train_predictions"), _flat(test_x, "predictions")
    _check_annotations(train_refs, "train_references"), _check_annotations(refs, "references")
    d = _distances(refs, normalizer, eye_indices)
    per_landmark = np.full(train_x.shape[1], np.nan)
    for k in range(train_x.shape[1]):
        fit_rows = np.isfinite(train_x[:, k]).all(axis=1)
        test_rows = np.isfinite(test_x[:, k]).all(axis=1)
        if fit_rows.sum() < 2 or not test_rows.any():
            continue
        state = fit_ridge(train_y[fit_rows], train_x[fit_rows, k], ridge_lambda, scale)
        estimate = predict_ridge(state, test_y[test_rows])
        per_landmark[k] = (np.linalg.norm(estimate - test_x[test_rows, k], axis=-1) / d[test_rows]).mean()
    return per_landmark


def cumulative_error_curve(per_landmark_errors) -> np.ndarray:
    """Errors sorted ascending, running mean (the papers' cumulative plots)."""
    errors = np.sort(np.asarray(per_landmark_errors, np.float64)[np.isfinite(per_landmark_errors)])
    return np.cumsum(errors) / np.arange(1, len(errors) + 1)


def landmark_regression_nme(
    predictions,
    references,
    train_predictions,
    train_references,
    direction: str = "forward",
    ridge_lambda: float | None = None,
    normalizer="inter_ocular",
    n_train: int | None = None,
    n_repeats: int = 1,
    seed: int = 0,
    eye_indices=None,
    scale: float = 1.0,
) -> dict:
    """Forward or backward regression NME in percent, averaged over ``n_repeats`` random training subsets.

    ``n_train`` images are drawn (without replacement) from the training pool for every repeat (all of them when
    ``None``). ``ridge_lambda`` defaults to the paper's 0.001 (forward) / 0.1 (backward). Returns ``{"nme",
    "nme_std", "direction", "n_train", "ridge_lambda"}`` plus ``"per_landmark_nme"`` for backward.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if ridge_lambda is None:
        ridge_lambda = 1e-3 if direction == "forward" else 0.1
    pool_x, pool_y = _to_numpy(train_predictions), _to_numpy(train_references)
    if len(pool_x) != len(pool_y):
        raise ValueError(f"train_predictions ({len(pool_x)}) and train_references ({len(pool_y)}) differ in length")
    n_train = len(pool_x) if n_train is None else int(n_train)
    if not 2 <= n_train <= len(pool_x):
        raise ValueError(f"n_train must be in [2, {len(pool_x)}] (the training pool), got {n_train}")
    if n_repeats < 1:
        raise ValueError(f"n_repeats must be >= 1, got {n_repeats}")
    rng = np.random.default_rng(seed)
    values, per_landmark = [], []
    for _ in range(n_repeats):
        rows = rng.choice(len(pool_x), n_train, replace=False) if n_train < len(pool_x) else np.arange(n_train)
        if direction == "forward":
            errors = forward_error(predictions, references, pool_x[rows], pool_y[rows], ridge_lambda, normalizer,
                                   eye_indices, scale)
            values.append(errors.mean())
        else:
            errors = backward_error(predictions, references, pool_x[rows], pool_y[rows], ridge_lambda, normalizer,
                                    eye_indices, scale)
            per_landmark.append(errors)
            values.append(np.nanmean(errors))
    result = {"nme": float(100 * np.mean(values)), "nme_std": float(100 * np.std(values)), "direction": direction,
              "n_train": n_train, "ridge_lambda": ridge_lambda}
    if per_landmark:
        result["per_landmark_nme"] = [float(100 * v) for v in np.mean(per_landmark, axis=0)]
    return result


def _build_evaluate_metric():
    """``evaluate.Metric`` wrapper, created lazily (importing ``evaluate`` takes seconds)."""
    import datasets
    import evaluate

    class LandmarkRegressionNME(evaluate.Metric):
        """``evaluate`` wrapper of :func:`landmark_regression_nme` (``landmark_regression_nme``)."""

        def _info(self):
            points = datasets.Sequence(datasets.Sequence(datasets.Value("float32")))
            return evaluate.MetricInfo(
                description="Forward/backward landmark regression NME of unsupervised landmarks.",
                citation="Mallis et al., From Keypoints to Object Landmarks via Self-Training Correspondence, TPAMI 2023",
                inputs_description="predictions: (K, 2) discovered landmarks (NaN = missing); references: (L, 2).",
                features=datasets.Features({"predictions": points, "references": points}),
            )

        def _compute(self, predictions, references, train_predictions, train_references, **kwargs):
            return landmark_regression_nme(predictions, references, train_predictions, train_references, **kwargs)

    return LandmarkRegressionNME


def __getattr__(name):
    if name == "LandmarkRegressionNME":
        cls = _build_evaluate_metric()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DIRECTIONS",
    "backward_error",
    "cumulative_error_curve",
    "fit_ridge",
    "forward_error",
    "landmark_regression_nme",
    "predict_ridge",
    "soft_impute",
]
