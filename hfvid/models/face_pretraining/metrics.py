"""Regression metrics of the FRL benchmark: ICC(3,1), CCC, PCC, MAE, RMSE (AU intensity, valence/arousal).

Written here because ``hfvid/metrics/affect.py`` did not exist yet; these belong there and should be merged.
"""

from __future__ import annotations

import numpy as np


def _pair(predictions, references) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(getattr(predictions, "detach", lambda: predictions)(), dtype=np.float64)
    ref = np.asarray(getattr(references, "detach", lambda: references)(), dtype=np.float64)
    if pred.shape != ref.shape or pred.ndim not in (1, 2) or len(pred) < 2:
        raise ValueError(f"predictions and references must have the same (N,) or (N, D) shape with N >= 2, "
                         f"got {pred.shape} and {ref.shape}")
    return (pred[:, None], ref[:, None]) if pred.ndim == 1 else (pred, ref)


def icc_3_1(predictions, references) -> np.ndarray:
    """ICC(3,1) per column (two-way mixed, consistency, single measure) with k = 2 raters (prediction, truth):
    ``(MS_R - MS_E) / (MS_R + MS_E)`` from the two-way ANOVA without replication. Ignores additive offsets."""
    pred, ref = _pair(predictions, references)
    data = np.stack([pred, ref], axis=1)  # (N, k=2, D)
    n, k = data.shape[:2]
    grand = data.mean(axis=(0, 1))
    ss_rows = k * ((data.mean(axis=1) - grand) ** 2).sum(0)
    ss_cols = n * ((data.mean(axis=0) - grand) ** 2).sum(0)
    ss_total = ((data - grand) ** 2).sum(axis=(0, 1))
    ms_rows = ss_rows / (n - 1)
    ms_error = (ss_total - ss_rows - ss_cols) / ((n - 1) * (k - 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (ms_rows - ms_error) / (ms_rows + (k - 1) * ms_error)


def ccc(predictions, references) -> np.ndarray:
    """Concordance correlation per column: ``2 cov / (var_p + var_r + (mean_p - mean_r)^2)`` (population moments)."""
    pred, ref = _pair(predictions, references)
    cov = ((pred - pred.mean(0)) * (ref - ref.mean(0))).mean(0)
    return 2 * cov / (pred.var(0) + ref.var(0) + (pred.mean(0) - ref.mean(0)) ** 2)


def pcc(predictions, references) -> np.ndarray:
    """Pearson correlation per column (nan for a constant column)."""
    pred, ref = _pair(predictions, references)
    pc, rc = pred - pred.mean(0), ref - ref.mean(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pc * rc).sum(0) / np.sqrt((pc**2).sum(0) * (rc**2).sum(0))


def regression_metrics(predictions, references, names=None, prefix: str = "") -> dict[str, float]:
    """Means over columns of ICC(3,1), CCC, PCC, MAE and RMSE, plus per-column values when ``names`` are given."""
    pred, ref = _pair(predictions, references)
    per = {"icc": icc_3_1(pred, ref), "ccc": ccc(pred, ref), "pcc": pcc(pred, ref),
           "mae": np.abs(pred - ref).mean(0), "rmse": np.sqrt(((pred - ref) ** 2).mean(0))}
    out = {f"{prefix}{key}": float(np.nanmean(values)) for key, values in per.items()}
    for column, name in enumerate(names or []):
        for key, values in per.items():
            out[f"{prefix}{key}_{name}"] = float(values[column])
    return out


__all__ = ["ccc", "icc_3_1", "pcc", "regression_metrics"]
