"""Subpixel Heatmap Regression for facial landmark localisation (Bulat, Sanchez, Tzimiropoulos, BMVC 2021)."""

from .configuration_subpixel_fan import SubpixelFANConfig
from .image_processing_subpixel_fan import SubpixelFANImageProcessor
from .modeling_subpixel_fan import (
    SubpixelFANForFacialLandmarkDetection,
    SubpixelFANLandmarkDetectionOutput,
    SubpixelFANModel,
    SubpixelFANModelOutput,
    SubpixelFANPreTrainedModel,
)

__all__ = [
    "SubpixelFANConfig",
    "SubpixelFANForFacialLandmarkDetection",
    "SubpixelFANImageProcessor",
    "SubpixelFANLandmarkDetectionOutput",
    "SubpixelFANModel",
    "SubpixelFANModelOutput",
    "SubpixelFANPreTrainedModel",
]
