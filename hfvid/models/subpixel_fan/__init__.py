"""Subpixel Heatmap Regression for facial landmark localisation (Bulat, Sanchez, Tzimiropoulos, BMVC 2021)."""

from .configuration_subpixel_fan import SubpixelFANConfig
from .image_processing_subpixel_fan import FaceAlignmentImageProcessor
from .modeling_subpixel_fan import (
    FacialLandmarkDetectionOutput,
    SubpixelFANForFacialLandmarkDetection,
    SubpixelFANModel,
    SubpixelFANModelOutput,
    SubpixelFANPreTrainedModel,
)

__all__ = [
    "FaceAlignmentImageProcessor",
    "FacialLandmarkDetectionOutput",
    "SubpixelFANConfig",
    "SubpixelFANForFacialLandmarkDetection",
    "SubpixelFANModel",
    "SubpixelFANModelOutput",
    "SubpixelFANPreTrainedModel",
]
