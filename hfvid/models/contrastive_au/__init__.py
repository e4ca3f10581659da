"""Contrastive AU (Sanchez, Bulat, Zaganidis, Tzimiropoulos, ACCV 2020): contrastive spatio-temporal pre-training
on unlabelled face videos, then AU intensity regression from 2% randomly chosen labelled frames."""

from .configuration_contrastive_au import ContrastiveAUConfig
from .modeling_contrastive_au import (
    ContrastiveAUForAUIntensity,
    ContrastiveAUForPreTraining,
    ContrastiveAUIntensityOutput,
    ContrastiveAUModel,
    ContrastiveAUModelOutput,
    ContrastiveAUPreTrainedModel,
    ContrastiveAUPreTrainingOutput,
    info_nce,
)
from .sparse_labels import LabelSplit, sample_window_start, select_labelled_frames

__all__ = [
    "ContrastiveAUConfig",
    "ContrastiveAUForAUIntensity",
    "ContrastiveAUForPreTraining",
    "ContrastiveAUIntensityOutput",
    "ContrastiveAUModel",
    "ContrastiveAUModelOutput",
    "ContrastiveAUPreTrainedModel",
    "ContrastiveAUPreTrainingOutput",
    "LabelSplit",
    "info_nce",
    "sample_window_start",
    "select_labelled_frames",
]
