"""Evaluation metrics (facial landmarks: NME, FR, CED, AUC)."""

from .landmarks import (
    NORMALIZATIONS,
    OUTER_EYE_CORNERS,
    auc,
    ced,
    failure_rate,
    landmark_metrics,
    normalization_distances,
    per_image_nme,
)


def __getattr__(name):
    if name == "FacialLandmarkNME":  # lazy: importing `evaluate` is slow
        from . import landmarks

        return landmarks.FacialLandmarkNME
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
