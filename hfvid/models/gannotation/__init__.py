"""GANnotation: landmark-guided face-to-face synthesis with a recurrent cycle consistency loss (FG 2020).

The diffusers pipeline (:mod:`.pipeline_gannotation`) is not imported here, so ``import hfvid.models.gannotation``
does not import diffusers; ``hfvid.GANnotationPipeline`` loads it on first use.
"""

from .configuration_gannotation import GANnotationConfig
from .landmark_maps import IBUG66_FLIP_PERMUTATION, IBUG66_FROM_68, render_landmark_maps, to_66_points
from .modeling_gannotation import (
    GANnotationDiscriminator,
    GANnotationDiscriminatorOutput,
    GANnotationGenerator,
    GANnotationGeneratorOutput,
    GANnotationPreTrainedModel,
)

__all__ = [
    "GANnotationConfig",
    "GANnotationDiscriminator",
    "GANnotationDiscriminatorOutput",
    "GANnotationGenerator",
    "GANnotationGeneratorOutput",
    "GANnotationPreTrainedModel",
    "IBUG66_FLIP_PERMUTATION",
    "IBUG66_FROM_68",
    "render_landmark_maps",
    "to_66_points",
]
