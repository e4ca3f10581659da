"""Metrics of continuous affect (valence/arousal) and AU intensity: CCC, PCC, ICC(3,1), MAE, RMSE.

Definitions (``affective_processes.md`` and ``contrastive_au.md``, section 5): on the N valid frames only, in
float64, with population (1/N) moments ``s_p^2``, ``s_g^2``, ``s_pg``:

* ``CCC = 2 s_pg / (s_p^2 + s_g^2 + (mean_p - mean_g)^2)`` (1.0 when p and g are the same constant);
* ``PCC = s_pg / (s_p s_g)`` (NaN when either has zero variance);
* ``ICC(3,1)`` (Shrout & Fleiss, two-way mixed, consistency, single measure) with the two "raters" prediction and
  ground truth, from the ANOVA mean squares ``(BMS - EMS) / (BMS + (k - 1) EMS)`` (NaN when ``BMS + EMS = 0``);
  for k = 2 it equals ``2 s_pg / (s_p^2 + s_g^2)``;
* ``MAE = mean |p - g|``, ``RMSE = sqrt(mean (p - g)^2)``.

Invalid frames (mask False, or a NaN reference) are dropped before anything is computed, never counted as zeros.
:func:`affect_metrics` reports every metric per output and averaged over outputs (the "Avg" column); the average
skips outputs whose metric is NaN.
"""

from __future__ import annotations

import numpy as np

METRICS = ("ccc", "pcc", "icc", "mae", "rmse")


def _pair(predictions, references) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(predictions.detach().cpu() if hasattr(predictions, "detach") else predictions, dtype=np.float64)
    g = np.asarray(references.detach().cpu() if hasattr(references, "detach") else references, dtype=np.float64)
    if p.shape != g.shape or p.ndim != 1:
        raise ValueError(f"predictions and references must be 1-D arrays of the same length, got {p.shape} and "
                         f"{g.shape}")
    if p.size == 0:
        raise ValueError("no valid frames to evaluate (every frame is masked out)")
    return p, g


def concordance_correlation(predictions, references) -> float:
    """Lin's concordance correlation coefficient (population moments)."""
    p, g = _pair(predictions, references)
    cov = np.mean((p - p.mean()) * (g - g.mean()))
    denominator = p.var() + g.var() + (p.mean() - g.mean()) ** 2
    return 1.0 if denominator == 0 else float(2 * cov / denominator)


def pearson_correlation(predictions, references) -> float:
    """Pearson's r (NaN when either side is constant)."""
    p, g = _pair(predictions, references)
    denominator = np.sqrt(p.var() * g.var())
    return float("nan") if denominator == 0 else float(np.mean((p - p.mean()) * (g - g.mean())) / denominator)


def icc_3_1(predictions, references) -> float:
    """ICC(3,1) of the two raters (prediction, ground truth), from the two-way ANOVA mean squares."""
    p, g = _pair(predictions, references)
    y = np.stack([p, g], axis=1)
    n, k = y.shape
    if n < 2:
        return float("nan")
    grand = y.mean()
    ss_rows = k * np.sum((y.mean(axis=1) - grand) ** 2)
    ss_cols = n * np.sum((y.mean(axis=0) - grand) ** 2)
    ss_error = np.sum((y - grand) ** 2) - ss_rows - ss_cols
    bms = ss_rows / (n - 1)
    ems = ss_error / ((n - 1) * (k - 1))
    denominator = bms + (k - 1) * ems
    return float("nan") if denominator == 0 else float((bms - ems) / denominator)


def mean_absolute_error(predictions, references) -> float:
    p, g = _pair(predictions, references)
    return float(np.mean(np.abs(p - g)))


def root_mean_squared_error(predictions, references) -> float:
    p, g = _pair(predictions, references)
    return float(np.sqrt(np.mean((p - g) ** 2)))


_FUNCTIONS = {
    "ccc": concordance_correlation,
    "pcc": pearson_correlation,
    "icc": icc_3_1,
    "mae": mean_absolute_error,
    "rmse": root_mean_squared_error,
}


def affect_metrics(predictions, references, mask=None, names=None, metrics=METRICS) -> dict[str, float]:
    """Every metric per output and averaged: ``{"ccc_valence": ..., "ccc_arousal": ..., "ccc_mean": ...}``.

    Args:
        predictions, references: ``(N, K)`` (or ``(N,)``) arrays/tensors; frames of several videos concatenated.
        mask: ``(N,)`` or ``(N, K)`` booleans, True for valid frames; NaN references are always invalid.
        names: K output names used as key suffixes (default ``"0"``, ``"1"``...).
        metrics: which of ``ccc, pcc, icc, mae, rmse`` to compute.

    Returns also ``num_frames_<name>`` (valid frames of each output). An output without a valid frame raises.
    """
    p = np.asarray(predictions.detach().cpu() if hasattr(predictions, "detach") else predictions, dtype=np.float64)
    g = np.asarray(references.detach().cpu() if hasattr(references, "detach") else references, dtype=np.float64)
    if p.ndim == 1:
        p, g = p[:, None], g[:, None] if g.ndim == 1 else g
    if p.shape != g.shape or p.ndim != 2:
        raise ValueError(f"predictions and references must both be (N, K), got {p.shape} and {g.shape}")
    valid = ~np.isnan(g)
    if mask is not None:
        m = np.asarray(mask.detach().cpu() if hasattr(mask, "detach") else mask, dtype=bool)
        if m.ndim == 1:
            m = m[:, None]
        if m.shape[0] != p.shape[0] or m.shape[1] not in (1, p.shape[1]):
            raise ValueError(f"mask must be (N,) or (N, K) with N={p.shape[0]}, K={p.shape[1]}, got {m.shape}")
        valid &= m
    names = [str(i) for i in range(p.shape[1])] if names is None else list(names)
    if len(names) != p.shape[1]:
        raise ValueError(f"got {len(names)} names for {p.shape[1]} outputs")
    unknown = set(metrics) - set(_FUNCTIONS)
    if unknown:
        raise ValueError(f"unknown metrics {sorted(unknown)}; choose from {METRICS}")
    results = {}
    for k, name in enumerate(names):
        rows = valid[:, k]
        if not rows.any():
            raise ValueError(f"output {name!r} has no valid frame (all masked out or NaN)")
        results[f"num_frames_{name}"] = int(rows.sum())
        for metric in metrics:
            results[f"{metric}_{name}"] = _FUNCTIONS[metric](p[rows, k], g[rows, k])
    for metric in metrics:
        values = [results[f"{metric}_{name}"] for name in names]
        finite = [v for v in values if not np.isnan(v)]
        results[f"{metric}_mean"] = float(np.mean(finite)) if finite else float("nan")
    return results


__all__ = [
    "METRICS",
    "affect_metrics",
    "concordance_correlation",
    "icc_3_1",
    "mean_absolute_error",
    "pearson_correlation",
    "root_mean_squared_error",
]
