"""MeMSVD: long-range temporal structure captured with incremental SVD (Ntinou, Sanchez, Tzimiropoulos, 2024)."""

from .configuration_memsvd import AVA_EVAL_ACTION_IDS, MeMSVDConfig
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
    "AVA_EVAL_ACTION_IDS",
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
    "feature_bank_dataset",
    "memory_preparation_macs",
    "readout_macs",
]
