"""Affective Processes (Sanchez, Tellamekala, Valstar, Tzimiropoulos, CVPR 2021): Neural-Process temporal context
for per-frame valence/arousal and AU intensity."""

from .configuration_affective_process import AffectiveProcessConfig
from .modeling_affective_process import (
    AffectiveProcessForAffectEstimation,
    AffectiveProcessModel,
    AffectiveProcessModelOutput,
    AffectiveProcessOutput,
    AffectiveProcessPreTrainedModel,
    select_context,
)
from .video_processing_affective_process import AffectiveProcessVideoProcessor

__all__ = [
    "AffectiveProcessConfig",
    "AffectiveProcessForAffectEstimation",
    "AffectiveProcessModel",
    "AffectiveProcessModelOutput",
    "AffectiveProcessOutput",
    "AffectiveProcessPreTrainedModel",
    "AffectiveProcessVideoProcessor",
    "select_context",
]
