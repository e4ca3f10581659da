"""Evaluation metrics (facial landmarks: NME, FR, CED, AUC); the names and ``__all__`` are those of ``landmarks``."""

from .landmarks import *  # noqa: F403  (landmarks.__all__ is the one list of the public names)
from .landmarks import __all__  # noqa: F401


def __getattr__(name):
    if name == "FacialLandmarkNME":  # lazy: importing `evaluate` is slow; kept out of __all__ for light star-imports
        from . import landmarks

        return landmarks.FacialLandmarkNME
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
