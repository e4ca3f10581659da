"""BMViT: single-stage spatio-temporal action localisation by bipartite matching on video transformer tokens."""

from .configuration_bmvit import BMViTConfig
from .loss_bmvit import BMViTHungarianMatcher, matching_cost, set_prediction_loss
from .modeling_bmvit import (
    BMViTActionLocalizationOutput,
    BMViTForActionLocalization,
    BMViTModel,
    BMViTModelOutput,
    BMViTPreTrainedModel,
    pool_tokens,
)
from .video_processing_bmvit import BMViTVideoProcessor

__all__ = [
    "BMViTActionLocalizationOutput",
    "BMViTConfig",
    "BMViTForActionLocalization",
    "BMViTHungarianMatcher",
    "BMViTModel",
    "BMViTModelOutput",
    "BMViTPreTrainedModel",
    "BMViTVideoProcessor",
    "matching_cost",
    "pool_tokens",
    "set_prediction_loss",
]
