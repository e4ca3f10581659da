"""GANnotation networks: the FG 2020 colour + mask generator and the PatchGAN (WGAN-GP) critic.

Both are transformers ``PreTrainedModel``s, registered as components of the diffusers
:class:`~hfvid.models.gannotation.pipeline_gannotation.GANnotationPipeline`. diffusers re-imports each component's
class from the module path stored in ``model_index.json`` and looks up its loading base class (``PreTrainedModel``)
as an attribute of that module, which is why this module imports ``PreTrainedModel`` by name. Attribute names follow
the official ``model.py`` (``down_conv``, ``bottleneck``, ``feature_layer``, ``colour_layer``, ``mask_layer``), so the
released state dict converts by dropping the ``module.`` prefix.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.utils import ModelOutput, can_return_tuple

from .configuration_gannotation import GANnotationConfig
from .landmark_maps import render_landmark_maps


@dataclass
class GANnotationGeneratorOutput(ModelOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`, returned when `labels` are given): mean absolute error between
            `sample` and `labels` (the paired reconstruction loss `L_rec`).
        sample (`torch.FloatTensor` of shape `(batch, 3, image_size, image_size)`): synthesised faces, in the
            config's `input_range` convention for the mask blend (always [-1, 1] for new models).
        color (`torch.FloatTensor` of shape `(batch, 3, image_size, image_size)`): the colour branch `C` in [-1, 1].
        mask (`torch.FloatTensor` of shape `(batch, 1, image_size, image_size)`): the mask `M` in [0, 1]
            (`None` when `use_mask=False`); `sample = M * source + (1 - M) * C`.
    """

    loss: torch.FloatTensor | None = None
    sample: torch.FloatTensor | None = None
    color: torch.FloatTensor | None = None
    mask: torch.FloatTensor | None = None


@dataclass
class GANnotationDiscriminatorOutput(ModelOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`, returned when `labels` are given): the critic's adversarial loss
            (WGAN: `mean((1 - 2 y) D(x))`; hinge: `mean(relu(1 - D))` on real, `mean(relu(1 + D))` on fake).
        logits (`torch.FloatTensor` of shape `(batch, 1, image_size / 2**L, image_size / 2**L)`): patch scores.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None


class GANnotationPreTrainedModel(PreTrainedModel):
    config: GANnotationConfig
    base_model_prefix = "gannotation"
    main_input_name = "pixel_values"
    input_modalities = ("image",)

    @torch.no_grad()
    def _init_weights(self, module):
        """Official init: conv weights N(0, 0.02), biases 0; affine instance-norm scale 1, shift 0."""
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.InstanceNorm2d) and module.affine:
            init.ones_(module.weight)
            init.zeros_(module.bias)

    def _check_maps(self, landmark_maps, target_landmarks, batch: int, size: int) -> torch.Tensor:
        """Return the conditioning maps: given ones (shape-checked) or rendered from ``target_landmarks``."""
        if (landmark_maps is None) == (target_landmarks is None):
            raise ValueError("give exactly one of landmark_maps (B, C, H, W) or target_landmarks (B, N, 2)")
        if target_landmarks is not None:
            expected = (batch, self.config.num_landmarks, 2)
            if tuple(target_landmarks.shape) != expected:
                raise ValueError(f"target_landmarks must have shape {expected}, got {tuple(target_landmarks.shape)}")
            return self.render_landmarks(target_landmarks)
        expected = (batch, self.config.num_map_channels, size, size)
        if tuple(landmark_maps.shape) != expected:
            raise ValueError(f"landmark_maps must have shape {expected} for landmark_encoding="
                             f"{self.config.landmark_encoding!r}, got {tuple(landmark_maps.shape)}")
        return landmark_maps

    def render_landmarks(self, landmarks: torch.Tensor) -> torch.Tensor:
        """(B, N, 2) crop-pixel points -> (B, C, image_size, image_size) maps with the configured encoding."""
        maps = render_landmark_maps(landmarks, self.config.image_size, self.config.landmark_encoding,
                                    self.config.heatmap_sigma)
        return maps.to(self.dtype)

    def _check_pixels(self, pixel_values: torch.Tensor) -> None:
        expected = (self.config.in_channels, self.config.image_size, self.config.image_size)
        if pixel_values.ndim != 4 or tuple(pixel_values.shape[1:]) != expected:
            raise ValueError(f"pixel_values must have shape (batch, {', '.join(map(str, expected))}), "
                             f"got {tuple(pixel_values.shape)}")


class GANnotationResidualBlock(GradientCheckpointingLayer):
    """``x + IN(conv3x3(LReLU(IN(conv3x3(x)))))`` with biased convs and non-affine instance norms (as ``model.py``).

    The generator's unit of activation checkpointing (``GANnotationGenerator.supports_gradient_checkpointing``)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.norm1 = nn.InstanceNorm2d(channels)
        self.activation = nn.LeakyReLU(0.2)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.norm2 = nn.InstanceNorm2d(channels)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden + self.norm2(self.conv2(self.activation(self.norm1(self.conv1(hidden)))))


class GANnotationGenerator(GANnotationPreTrainedModel):
    """The FG 2020 GANnotation generator: encoder, residual bottleneck, decoder, colour and mask branches.

    ``sample = M * source + (1 - M) * C``: the mask lets the network copy what does not move (background, hair)
    from the source and paint only what the target shape changes. With ``use_mask=False`` the output is ``C``.
    """

    supports_gradient_checkpointing = True  # the bottleneck's residual blocks

    def __init__(self, config: GANnotationConfig):
        super().__init__(config)
        channels = config.base_channels
        layers = [nn.Conv2d(config.in_channels + config.num_map_channels, channels, 7, padding=3, bias=False),
                  nn.InstanceNorm2d(channels, affine=True), nn.LeakyReLU(0.2)]
        for _ in range(config.num_downsamples):
            layers += [nn.Conv2d(channels, channels * 2, 4, stride=2, padding=1, bias=False),
                       nn.InstanceNorm2d(channels * 2, affine=True), nn.LeakyReLU(0.2)]
            channels *= 2
        self.down_conv = nn.Sequential(*layers)
        self.bottleneck = nn.Sequential(*[GANnotationResidualBlock(channels) for _ in range(config.num_res_blocks)])
        layers = []
        for _ in range(config.num_downsamples):
            layers += [nn.ConvTranspose2d(channels, channels // 2, 4, stride=2, padding=1, bias=False),
                       nn.InstanceNorm2d(channels // 2, affine=True), nn.LeakyReLU(0.2)]
            channels //= 2
        self.feature_layer = nn.Sequential(*layers)
        self.colour_layer = nn.Sequential(nn.Conv2d(channels, config.in_channels, 7, padding=3, bias=False), nn.Tanh())
        self.mask_layer = (nn.Sequential(nn.Conv2d(channels, 1, 7, padding=3, bias=False), nn.Sigmoid())
                           if config.use_mask else None)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor,
        landmark_maps: torch.Tensor | None = None,
        target_landmarks: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> GANnotationGeneratorOutput:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch, 3, image_size, image_size)`): source face crops in
                the config's `input_range` ([-1, 1] for new models).
            landmark_maps (`torch.FloatTensor` of shape `(batch, C, image_size, image_size)`, *optional*): target
                conditioning maps (C = num_landmarks, or 3 for edge maps).
            target_landmarks (`torch.FloatTensor` of shape `(batch, num_landmarks, 2)`, *optional*): target points
                in crop pixels, rendered to maps with the configured encoding (instead of `landmark_maps`).
            labels (`torch.FloatTensor` of shape `(batch, 3, image_size, image_size)`, *optional*): the true target
                frames; gives `loss` = L1 reconstruction error.

        Example:

        ```python
        >>> import torch
        >>> from hfvid import GANnotationConfig, GANnotationGenerator
        >>> config = GANnotationConfig(num_landmarks=5, base_channels=8, num_res_blocks=1, image_size=32,
        ...                            critic_num_layers=3)
        >>> out = GANnotationGenerator(config)(torch.rand(2, 3, 32, 32) * 2 - 1,
        ...                                    target_landmarks=torch.rand(2, 5, 2) * 31)
        >>> out.sample.shape, out.mask.shape
        (torch.Size([2, 3, 32, 32]), torch.Size([2, 1, 32, 32]))
        ```
        """
        self._check_pixels(pixel_values)
        maps = self._check_maps(landmark_maps, target_landmarks, pixel_values.shape[0], self.config.image_size)
        if labels is not None and labels.shape != pixel_values.shape:
            raise ValueError(f"labels must have the shape of pixel_values {tuple(pixel_values.shape)}, "
                             f"got {tuple(labels.shape)}")
        inputs = torch.cat([pixel_values, maps.to(pixel_values.dtype)], 1)
        features = self.feature_layer(self.bottleneck(self.down_conv(inputs)))
        color = self.colour_layer(features)
        mask = None
        sample = color
        if self.mask_layer is not None:
            mask = self.mask_layer(features)
            # blend in float32: fp16/bf16 rounding visibly bands the copied background
            mask32 = mask.float()
            blend = mask32 * pixel_values.float() + (1 - mask32) * color.float()  # M = 1 / 0: exactly A / C
            sample = blend.to(color.dtype)
        loss = F.l1_loss(sample, labels.to(sample.dtype)) if labels is not None else None
        return GANnotationGeneratorOutput(loss=loss, sample=sample, color=color, mask=mask)


class GANnotationDiscriminator(GANnotationPreTrainedModel):
    """PatchGAN critic without normalisation layers (required by the WGAN gradient penalty).

    ``critic_num_layers`` stride-2 4x4 convs (64 -> 128 -> ... channels, LeakyReLU 0.01), then a 3x3 conv to one
    score per patch: (B, 1, 2, 2) for 128-pixel crops and 6 layers. Unconditional unless ``critic_conditional``.
    """

    def __init__(self, config: GANnotationConfig):
        super().__init__(config)
        channels = config.critic_base_channels
        in_channels = config.in_channels + (config.num_map_channels if config.critic_conditional else 0)
        layers = [nn.Conv2d(in_channels, channels, 4, stride=2, padding=1), nn.LeakyReLU(0.01)]
        for _ in range(config.critic_num_layers - 1):
            layers += [nn.Conv2d(channels, channels * 2, 4, stride=2, padding=1), nn.LeakyReLU(0.01)]
            channels *= 2
        self.main = nn.Sequential(*layers)
        self.conv_out = nn.Conv2d(channels, 1, 3, padding=1, bias=False)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor,
        landmark_maps: torch.Tensor | None = None,
        target_landmarks: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> GANnotationDiscriminatorOutput:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch, 3, image_size, image_size)`): images in [-1, 1].
            landmark_maps / target_landmarks (*optional*): the target shape; required (exactly one) when
                `critic_conditional`, ignored otherwise.
            labels (`torch.FloatTensor` of shape `(batch,)`, *optional*): 1 for real, 0 for generated images; gives
                the critic's adversarial `loss`.
        """
        self._check_pixels(pixel_values)
        inputs = pixel_values
        if self.config.critic_conditional:
            maps = self._check_maps(landmark_maps, target_landmarks, pixel_values.shape[0], self.config.image_size)
            inputs = torch.cat([pixel_values, maps.to(pixel_values.dtype)], 1)
        logits = self.conv_out(self.main(inputs))
        loss = None
        if labels is not None:
            if tuple(labels.shape) != (pixel_values.shape[0],):
                raise ValueError(f"labels must have shape ({pixel_values.shape[0]},) (1 real, 0 fake), "
                                 f"got {tuple(labels.shape)}")
            loss = critic_loss(logits, labels.to(logits.dtype), self.config.gan_type)
        return GANnotationDiscriminatorOutput(loss=loss, logits=logits)


def critic_loss(logits: torch.Tensor, labels: torch.Tensor, gan_type: str = "wgan-gp") -> torch.Tensor:
    """Critic loss of patch scores (B, 1, h, w) for labels (B,) (1 real, 0 fake), averaged over the batch.

    WGAN: ``-D(x)`` on real, ``+D(x)`` on fake (so ``-mean D(real) + mean D(fake)`` for a balanced batch);
    hinge: ``relu(1 - D)`` on real, ``relu(1 + D)`` on fake.
    """
    scores = logits.flatten(1)
    sign = (1.0 - 2.0 * labels)[:, None]  # -1 real, +1 fake
    if gan_type == "hinge":
        return F.relu(1.0 + sign * scores).mean()
    return (sign * scores).mean()


__all__ = [
    "GANnotationDiscriminator",
    "GANnotationDiscriminatorOutput",
    "GANnotationGenerator",
    "GANnotationGeneratorOutput",
    "GANnotationPreTrainedModel",
    "critic_loss",
]
