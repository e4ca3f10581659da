"""hfvid: research methods for faces and video as first-class Hugging Face models.

``import hfvid`` registers every model, processor and pipeline task (see :mod:`hfvid.registration`); public
classes are resolved lazily on first attribute access, so optional heavy libraries load only when used.
"""

from importlib import import_module

from .registration import register_all

__version__ = "0.1.0"

_LAZY_ATTRIBUTES = {
    # Subpixel heatmap regression
    "SubpixelFANConfig": "hfvid.models.subpixel_fan",
    "SubpixelFANModel": "hfvid.models.subpixel_fan",
    "SubpixelFANForFacialLandmarkDetection": "hfvid.models.subpixel_fan",
    "FaceAlignmentImageProcessor": "hfvid.models.subpixel_fan",
    "FacialLandmarkDetectionPipeline": "hfvid.pipelines.facial_landmarks",
    # shared utilities
    "render_model_card": "hfvid.hub",
    "publish": "hfvid.hub",
}


def __getattr__(name: str):
    if name in _LAZY_ATTRIBUTES:
        value = getattr(import_module(_LAZY_ATTRIBUTES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hfvid' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY_ATTRIBUTES))


register_all()

__all__ = ["__version__", "register_all", *_LAZY_ATTRIBUTES]
