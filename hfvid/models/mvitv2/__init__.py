"""Video MViTv2 (Li et al., CVPR 2022): a reusable backbone (BMViT, MeMSVD) with torchvision weight conversion."""

from .configuration_mvitv2 import MViTv2Config
from .convert_torchvision_mvit_to_hfvid import config_from_torchvision, convert_torchvision_mvit_state_dict
from .modeling_mvitv2 import (
    MViTv2Backbone,
    MViTv2ForVideoClassification,
    MViTv2Model,
    MViTv2ModelOutput,
    MViTv2PreTrainedModel,
    MViTv2VideoClassifierOutput,
    tokens_to_grid,
)
from .video_processing_mvitv2 import MViTv2VideoProcessor

__all__ = [
    "MViTv2Backbone",
    "MViTv2Config",
    "MViTv2ForVideoClassification",
    "MViTv2Model",
    "MViTv2ModelOutput",
    "MViTv2PreTrainedModel",
    "MViTv2VideoClassifierOutput",
    "MViTv2VideoProcessor",
    "config_from_torchvision",
    "convert_torchvision_mvit_state_dict",
    "tokens_to_grid",
]
