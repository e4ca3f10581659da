"""MeMSVD: long-range temporal structure captured with incremental SVD (Ntinou, Sanchez, Tzimiropoulos, 2024)."""

from .actor_encoder_memsvd import MeMSVDActorEncoder, RoIAlignActorEncoder, VideoBackboneActorEncoder, load_backbone
from .configuration_memsvd import MeMSVDConfig
from .memory_memsvd import MeMSVDMemory, MeMSVDState
from .modeling_memsvd import (
    MeMSVDForActionDetection,
    MeMSVDForVideoClassification,
    MeMSVDModel,
    MeMSVDModelOutput,
    MeMSVDOutput,
    MeMSVDPreTrainedModel,
    memory_preparation_macs,
    readout_macs,
)
from .processing_memsvd import MeMSVDFeatureBank, MeMSVDFeatureBankProcessor, feature_bank_dataset

__all__ = [
    "MeMSVDActorEncoder",
    "MeMSVDConfig",
    "MeMSVDFeatureBank",
    "MeMSVDFeatureBankProcessor",
    "MeMSVDForActionDetection",
    "MeMSVDForVideoClassification",
    "MeMSVDMemory",
    "MeMSVDModel",
    "MeMSVDModelOutput",
    "MeMSVDOutput",
    "MeMSVDPreTrainedModel",
    "MeMSVDState",
    "RoIAlignActorEncoder",
    "VideoBackboneActorEncoder",
    "feature_bank_dataset",
    "load_backbone",
    "memory_preparation_macs",
    "readout_macs",
]
