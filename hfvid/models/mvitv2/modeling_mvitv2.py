"""Video MViTv2 as a transformers model, built from torchvision's own MViT blocks.

The modules are torchvision's (`MultiscaleBlock`, `PositionalEncoding`) under torchvision's names (`conv_proj`,
`pos_encoding`, `blocks.<i>`, `norm`), so a torchvision `mvit_v2_s` state dict maps onto this model by a key prefix
and the outputs are torchvision's exactly. What this file adds: a transformers config, `from_pretrained`/Auto
classes, the token grid as an output, per-stage feature maps (`AutoBackbone`), a classification head, gradient
checkpointing per block, and loading at another `(num_frames, image_size)` by interpolating the position tables.
Inputs follow the Hugging Face video convention `(batch, frames, channels, height, width)`.
"""

import math
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn
from torchvision.models.video.mvit import MSBlockConfig, MultiscaleAttention, MultiscaleBlock, PositionalEncoding
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.backbone_utils import BackboneMixin, filter_output_hidden_states
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BackboneOutput
from transformers.modeling_utils import load_state_dict
from transformers.utils import ModelOutput, can_return_tuple

from .configuration_mvitv2 import MViTv2Config


@dataclass
class MViTv2ModelOutput(ModelOutput):
    """
    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch, 1 + T' * H' * W', hidden_size)`): final normalised
            tokens, CLS first, then the grid in `(t, h, w)` raster order.
        pooler_output (`torch.FloatTensor` of shape `(batch, hidden_size)`): the normalised CLS token (what
            torchvision's classifier reads).
        token_grid (`tuple[int, int, int]`): `(T', H', W')` of the final tokens.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*): the embedding output and every block's output
            `(batch, 1 + tokens_i, width_i)`, when `output_hidden_states=True`.
    """

    last_hidden_state: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    token_grid: tuple[int, int, int] | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class MViTv2VideoClassifierOutput(ModelOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`, returned when `labels` are given): cross-entropy.
        logits (`torch.FloatTensor` of shape `(batch, num_labels)`): class scores (before softmax).
        pooler_output (`torch.FloatTensor` of shape `(batch, hidden_size)`): the normalised CLS token.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*): as in [`MViTv2ModelOutput`].
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


def tokens_to_grid(tokens: torch.Tensor, token_grid) -> torch.Tensor:
    """`(batch, 1 + T'H'W', C)` tokens (CLS first) -> `(batch, C, T', H', W')` feature map without the CLS token."""
    t, h, w = token_grid
    batch, count, channels = tokens.shape
    if count != 1 + t * h * w:
        raise ValueError(f"expected 1 + {t}*{h}*{w} tokens (CLS + grid), got {count}")
    return tokens[:, 1:].transpose(1, 2).reshape(batch, channels, t, h, w)


class MViTv2PreTrainedModel(PreTrainedModel):
    config: MViTv2Config
    base_model_prefix = "mvitv2"
    main_input_name = "pixel_values"
    input_modalities = ("video",)
    supports_gradient_checkpointing = True
    _no_split_modules = ["MViTv2Block"]

    @staticmethod
    def _load_pretrained_model(model, state_dict, checkpoint_files, load_config, expected_keys=None):
        """transformers 5 copies checkpoint tensors straight into parameters (no `load_state_dict` hooks), so the
        position tables are resized here first: weights saved at one `(num_frames, image_size)` then load strictly
        into a model configured for another, e.g. `from_pretrained(folder, num_frames=32, image_size=[256, 448])`."""
        if state_dict is None and checkpoint_files:
            shapes = {}
            for file in checkpoint_files:
                shapes.update(load_state_dict(file, map_location="meta"))  # shapes only, nothing is read
            if _resize_checkpoint_position_tables(model, shapes):
                state_dict = {}
                for file in checkpoint_files:
                    state_dict.update(load_state_dict(file, weights_only=load_config.weights_only))
        if state_dict is not None:
            state_dict = dict(state_dict)
            _resize_checkpoint_position_tables(model, state_dict)
        return PreTrainedModel._load_pretrained_model(model, state_dict, checkpoint_files, load_config, expected_keys)

    @torch.no_grad()
    def _init_weights(self, module):
        """torchvision's initialisation: truncated-normal linears and positions, unit LayerNorms."""
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            init.trunc_normal_(module.weight, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, nn.Conv3d):
            module.reset_parameters()  # PyTorch's default (kaiming-uniform), as torchvision leaves it
        elif isinstance(module, PositionalEncoding):
            for parameter in module.parameters(recurse=False):
                init.trunc_normal_(parameter, std=std)
        elif isinstance(module, MultiscaleAttention) and module.rel_pos_h is not None:
            for parameter in (module.rel_pos_h, module.rel_pos_w, module.rel_pos_t):
                init.trunc_normal_(parameter, std=std)


class MViTv2Block(GradientCheckpointingLayer, MultiscaleBlock):
    """torchvision's `MultiscaleBlock` (same parameters and names), checkpointed per block when gradient
    checkpointing is enabled; `forward(x, thw)` returns `(x, thw)` as torchvision's does."""


def _interpolate_table(table: torch.Tensor, length: int) -> torch.Tensor:
    """`(L, C)` relative-position table -> `(length, C)`, linear along L (as torchvision's `_interpolate` and
    PySlowFast / ViTDet resize these tables when the token grid changes)."""
    resized = nn.functional.interpolate(table.detach().float().t().unsqueeze(0), size=length, mode="linear")
    return resized.squeeze(0).t().to(table.dtype)


def _interpolate_spatial_positions(table: torch.Tensor, size: tuple[int, int], name: str) -> torch.Tensor:
    """`(H*W, C)` absolute spatial positions of a square grid -> `(size[0]*size[1], C)`, bicubic as in ViT."""
    side = round(table.shape[0] ** 0.5)
    if side * side != table.shape[0]:
        raise ValueError(f"cannot resize {name} of shape {tuple(table.shape)}: the saved spatial grid is not square,"
                         " so its height and width are unknown; load it at its original image_size")
    grid = table.detach().float().t().reshape(1, -1, side, side)
    resized = nn.functional.interpolate(grid, size=tuple(size), mode="bicubic", align_corners=False)
    return resized.reshape(table.shape[1], -1).t().to(table.dtype)


def resize_position_tables(module: nn.Module, state_dict: dict, prefix: str) -> list[str]:
    """Resize, in `state_dict`, the position tables of one attention (`rel_pos_h/w/t`) or `PositionalEncoding`
    module stored under `prefix` to the module's own sizes, so weights saved at one `(num_frames, image_size)` load
    into a model built for another. Tables of the right size are left untouched. Returns the resized keys."""
    resized = []
    for name, parameter in module.named_parameters(recurse=False):
        key = prefix + name
        saved = state_dict.get(key)
        if saved is None or tuple(saved.shape) == tuple(parameter.shape) or saved.ndim != 2:
            continue
        if saved.shape[1] != parameter.shape[1]:
            continue  # a width change is a real mismatch: leave it to the strict loader to report
        if name in ("rel_pos_h", "rel_pos_w", "rel_pos_t", "temporal_pos"):
            state_dict[key] = _interpolate_table(saved, parameter.shape[0])
        elif name == "spatial_pos":
            state_dict[key] = _interpolate_spatial_positions(saved, module.spatial_size, key)
        else:
            continue
        resized.append(key)
    return resized


def _resize_checkpoint_position_tables(model: nn.Module, state_dict: dict) -> list[str]:
    """[`resize_position_tables`] for every position-table module of `model`, whether the checkpoint's keys carry
    the base-model prefix (`mvitv2.`) or not. Returns the resized keys."""
    base = getattr(model, "base_model_prefix", "") + "."
    resized = []
    for name, module in model.named_modules():
        if not isinstance(module, (MultiscaleAttention, PositionalEncoding)):
            continue
        stripped = name[len(base):] if name.startswith(base) else name
        for prefix in dict.fromkeys((name + ".", stripped + ".", base + stripped + ".")):
            resized += resize_position_tables(module, state_dict, prefix)
    return resized


def _resize_position_tables_hook(module, state_dict, prefix, *args):
    """`load_state_dict` pre-hook: resize the module's position tables before the strict size check."""
    resize_position_tables(module, state_dict, prefix)


def block_settings(config: MViTv2Config) -> list[MSBlockConfig]:
    """The config's per-block lists as torchvision `MSBlockConfig`s."""
    return [
        MSBlockConfig(
            num_heads=config.num_heads[i],
            input_channels=config.input_channels[i],
            output_channels=config.output_channels[i],
            kernel_q=list(config.kernel_q[i]),
            kernel_kv=list(config.kernel_kv[i]),
            stride_q=list(config.stride_q[i]),
            stride_kv=list(config.stride_kv[i]),
        )
        for i in range(len(config.num_heads))
    ]


class MViTv2Model(MViTv2PreTrainedModel):
    """MViTv2 trunk: patch embedding -> CLS + positions -> multiscale blocks -> LayerNorm (no classifier)."""

    def __init__(self, config: MViTv2Config):
        super().__init__(config)
        self.conv_proj = nn.Conv3d(
            config.num_channels,
            config.embed_dim,
            kernel_size=tuple(config.patch_kernel_size),
            stride=tuple(config.patch_stride),
            padding=tuple(config.patch_padding),
        )
        grid = config.grid_after_patch_embed
        self.pos_encoding = PositionalEncoding(
            embed_size=config.embed_dim,
            spatial_size=(grid[1], grid[2]),
            temporal_size=grid[0],
            rel_pos_embed=config.rel_pos_embed,
        )
        norm_layer = partial(nn.LayerNorm, eps=config.layer_norm_eps)
        self.blocks = nn.ModuleList()
        self.grids = [tuple(grid)]  # token grid after the embedding and after every block
        settings = block_settings(config)
        for index, setting in enumerate(settings):
            depth = index / (len(settings) - 1.0) if len(settings) > 1 else 0.0
            self.blocks.append(
                MViTv2Block(
                    input_size=list(grid),
                    cnf=setting,
                    residual_pool=config.residual_pool,
                    residual_with_cls_embed=config.residual_with_cls_embed,
                    rel_pos_embed=config.rel_pos_embed,
                    proj_after_attn=config.proj_after_attn,
                    dropout=config.attention_dropout,
                    stochastic_depth_prob=config.stochastic_depth_prob * depth,
                    norm_layer=norm_layer,
                )
            )
            grid = [size // stride for size, stride in zip(grid, setting.stride_q)]
            self.grids.append(tuple(grid))
        self.norm = norm_layer(config.output_channels[-1])
        for module in self.modules():
            if isinstance(module, (MultiscaleAttention, PositionalEncoding)):
                module._register_load_state_dict_pre_hook(_resize_position_tables_hook, with_module=True)
        self.post_init()

    @property
    def token_grid_size(self) -> tuple[int, int, int]:
        """`(T', H', W')` of the final tokens."""
        return self.grids[-1]

    def embed(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """`(batch, T, C, H, W)` video -> `(batch, 1 + T'H'W', embed_dim)` tokens with CLS and positions."""
        config = self.config
        expected = (config.num_frames, config.num_channels, *config.image_size)
        if pixel_values.ndim != 5 or tuple(pixel_values.shape[1:]) != expected:
            raise ValueError(
                f"pixel_values must have shape (batch, {', '.join(map(str, expected))}) = (batch, frames, channels, "
                f"height, width), got {tuple(pixel_values.shape)}; MViTv2 is built for a fixed clip size (num_frames,"
                " image_size): resample the clip with the video processor"
            )
        x = self.conv_proj(pixel_values.transpose(1, 2))  # torchvision order (batch, C, T, H, W)
        return self.pos_encoding(x.flatten(2).transpose(1, 2))

    @can_return_tuple
    def forward(self, pixel_values: torch.Tensor, output_hidden_states: bool | None = None) -> MViTv2ModelOutput:
        """`pixel_values` `(batch, num_frames, num_channels, height, width)`, normalised by the video processor;
        `output_hidden_states` adds the embedding and every block's output (default: the config's)."""
        output_hidden_states = output_hidden_states if output_hidden_states is not None else (
            self.config.output_hidden_states
        )
        x = self.embed(pixel_values)
        thw = self.grids[0]
        hidden_states = [x]
        for block in self.blocks:
            x, thw = block(x, thw)
            hidden_states.append(x)
        x = self.norm(x)
        return MViTv2ModelOutput(
            last_hidden_state=x,
            pooler_output=x[:, 0],
            token_grid=tuple(thw),
            hidden_states=tuple(hidden_states) if output_hidden_states else None,
        )


class MViTv2Backbone(BackboneMixin, MViTv2PreTrainedModel):
    """Per-stage feature maps `(batch, C, T', H', W')` (CLS dropped) for detection / localisation heads.

    Stage `k` is the output of its last block; the final stage goes through the model's LayerNorm (it equals the
    grid of `MViTv2Model.last_hidden_state`), earlier stages are raw block outputs. "stem" is the embedding.
    """

    has_attentions = False

    def __init__(self, config: MViTv2Config):
        super().__init__(config)
        self.mvitv2 = MViTv2Model(config)
        self.num_features = [config.embed_dim] + [config.output_channels[end] for end in config.stage_ends]
        self.post_init()

    @can_return_tuple
    @filter_output_hidden_states
    def forward(self, pixel_values: torch.Tensor, *, output_hidden_states: bool | None = None) -> BackboneOutput:
        """`feature_maps` of `out_features`; `hidden_states` (the trunk's) only when `output_hidden_states`
        (default: the config's). No attentions: `forward_with_filtered_kwargs` drops `output_attentions`."""
        outputs = self.mvitv2(pixel_values, output_hidden_states=True, return_dict=True)
        hidden = list(outputs.hidden_states)
        hidden[-1] = outputs.last_hidden_state  # the final stage is normalised
        grids = self.mvitv2.grids
        positions = [0] + [end + 1 for end in self.config.stage_ends]  # index into hidden (0 = embedding)
        feature_maps = tuple(
            tokens_to_grid(hidden[positions[i]], grids[positions[i]])
            for i, name in enumerate(self.stage_names)
            if name in self.out_features
        )
        return BackboneOutput(feature_maps=feature_maps, hidden_states=outputs.hidden_states)


class MViTv2ForVideoClassification(MViTv2PreTrainedModel):
    """MViTv2 with torchvision's classifier: dropout + linear on the normalised CLS token."""

    def __init__(self, config: MViTv2Config):
        super().__init__(config)
        self.mvitv2 = MViTv2Model(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
    ) -> MViTv2VideoClassifierOutput:
        """`labels` `(batch,)` class indices in `[0, num_labels)` give a cross-entropy `loss`.

        Multi-view testing: `pixel_values` `(batch, views, frames, channels, height, width)` (the video processor's
        `num_clips` x `num_crops`) are scored per view and averaged as PySlowFast does (softmax scores summed over
        views): `logits` are the log of the views' mean class probabilities, so their softmax is that mean;
        `pooler_output` is the views' mean, `hidden_states` stay per view (`batch * views` rows).
        """
        views = pixel_values.shape[1] if pixel_values.ndim == 6 else 0
        if views:
            pixel_values = pixel_values.flatten(0, 1)
        outputs = self.mvitv2(pixel_values, output_hidden_states=output_hidden_states, return_dict=True)
        logits = self.classifier(self.dropout(outputs.pooler_output))
        pooled = outputs.pooler_output
        if views:
            logits = logits.log_softmax(-1).unflatten(0, (-1, views)).logsumexp(1) - math.log(views)
            pooled = pooled.unflatten(0, (-1, views)).mean(1)
        loss = None
        if labels is not None:
            if labels.shape != logits.shape[:1]:
                raise ValueError(f"labels must have shape ({logits.shape[0]},), got {tuple(labels.shape)}")
            loss = nn.functional.cross_entropy(logits, labels.long())
        return MViTv2VideoClassifierOutput(
            loss=loss, logits=logits, pooler_output=pooled, hidden_states=outputs.hidden_states
        )


__all__ = [
    "MViTv2Backbone",
    "MViTv2Block",
    "MViTv2ForVideoClassification",
    "MViTv2Model",
    "MViTv2ModelOutput",
    "MViTv2PreTrainedModel",
    "MViTv2VideoClassifierOutput",
    "block_settings",
    "resize_position_tables",
    "tokens_to_grid",
]
