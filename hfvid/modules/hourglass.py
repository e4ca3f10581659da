"""FAN: stacked hourglass network with multi-scale pre-activation blocks (Bulat & Tzimiropoulos, ICCV 2017).

Module names mirror the ``face-alignment`` package (``conv1, bn1, conv2..4, m{i}.b1_{level}, top_m_{i},
conv_last{i}, bn_end{i}, l{i}, bl{i}, al{i}``) so its 2DFAN-4 state dict loads key for key. Widths, depth, stack
count and the normalisation layer are parameters so tests and other methods can use small networks.

Inference path: in eval mode under ``torch.no_grad()`` the same arithmetic runs with fewer passes over memory
(at 256 px, batch 8, every full-resolution feature map is 33 MB, and the elementwise work is ~40% of a forward):
ReLUs and residual sums are done in place, each block writes its three branches straight into the summed output
(no ``torch.cat`` buffer), the 2x nearest upsampling is a broadcast add into the upper branch (no upsampled
copy), and the BatchNorms that directly follow a convolution (stem, ``bn_end``) are folded into it on the fly
(weights are never modified, so ``train()`` and saving are unaffected). Outputs equal the training-path
computation to float rounding (~1e-6). With autograd on, or in train mode, the plain functional code runs
(each ``HourGlass`` is a transformers ``GradientCheckpointingLayer``: activation checkpointing applies there).
"""

from __future__ import annotations

import contextlib
import math
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer


def make_norm(norm_type: str, channels: int, num_groups: int = 8) -> nn.Module:
    """BatchNorm (FAN parity) or GroupNorm (stable with tiny batches)."""
    if norm_type == "batch":
        return nn.BatchNorm2d(channels)
    if norm_type == "group":
        return nn.GroupNorm(math.gcd(num_groups, channels), channels)
    raise ValueError(f"norm_type must be 'batch' or 'group', got {norm_type!r}")


def inference_path(module: nn.Module) -> bool:
    """True when ``module`` may take the in-place inference path: eval mode and no autograd."""
    return not module.training and not torch.is_grad_enabled()


def conv_norm_relu(conv: nn.Conv2d, norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``relu(norm(conv(x)))``; on the inference path an eval-mode BatchNorm is folded into the convolution's
    weights on the fly (saves the BatchNorm pass over the output)."""
    if not isinstance(norm, nn.BatchNorm2d) or not inference_path(norm) or norm.running_var is None:
        return F.relu(norm(conv(x)), inplace=not torch.is_grad_enabled())
    scale = norm.running_var.add(norm.eps).rsqrt()
    if norm.weight is not None:
        scale = scale * norm.weight
    bias = -norm.running_mean * scale if conv.bias is None else (conv.bias - norm.running_mean) * scale
    if norm.bias is not None:
        bias = bias + norm.bias
    weight = conv.weight * scale.reshape(-1, 1, 1, 1)
    return F.relu(F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups), inplace=True)


def add_upsampled_(upper: torch.Tensor, lower: torch.Tensor) -> torch.Tensor:
    """``upper += nearest_upsample_2x(lower)`` in place, as a broadcast add (no upsampled copy)."""
    batch, channels, height, width = upper.shape
    view = upper.unflatten(3, (width // 2, 2)).unflatten(2, (height // 2, 2))  # (B, C, H/2, 2, W/2, 2)
    view.add_(lower[:, :, :, None, :, None])
    return upper


@contextlib.contextmanager
def frozen_batchnorm_statistics(module: nn.Module):
    """BatchNorms inside ``module`` still normalise with batch statistics but leave their running statistics (and
    batch counters) as they are while the context is active."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, None if m.num_batches_tracked is None else m.num_batches_tracked.clone()) for m in norms]
    for norm in norms:
        norm.momentum = 0.0
    try:
        yield
    finally:
        for norm, (momentum, count) in zip(norms, saved):
            norm.momentum = momentum
            if count is not None:
                norm.num_batches_tracked.copy_(count)


def _checkpoint_contexts(module: nn.Module):
    return contextlib.nullcontext(), frozen_batchnorm_statistics(module)


def batchnorm_safe_checkpoint_kwargs(module: nn.Module, kwargs: dict | None = None) -> dict:
    """``torch.utils.checkpoint`` kwargs whose backward recomputation does not update BatchNorm running statistics
    a second time (the plain recompute counts every checkpointed batch twice). Non-reentrant checkpointing only:
    with ``use_reentrant=True`` the kwargs are returned as given."""
    kwargs = {"use_reentrant": False} | dict(kwargs or {})
    if kwargs["use_reentrant"] or "context_fn" in kwargs:
        return kwargs
    return kwargs | {"context_fn": partial(_checkpoint_contexts, module)}


class HeatmapHead(nn.Conv2d):
    """1x1 convolution producing heatmaps; its own type so models can initialise it near zero (targets peak at 1)."""


class ConvBlock(nn.Module):
    """Pre-activation block with three 3x3 convs of out/2, out/4, out/4 channels, concatenated, plus a residual."""

    def __init__(self, in_channels: int, out_channels: int, norm_type: str = "batch", num_groups: int = 8):
        super().__init__()
        half, quarter = out_channels // 2, out_channels // 4
        self.bn1 = make_norm(norm_type, in_channels, num_groups)
        self.conv1 = nn.Conv2d(in_channels, half, 3, padding=1, bias=False)
        self.bn2 = make_norm(norm_type, half, num_groups)
        self.conv2 = nn.Conv2d(half, quarter, 3, padding=1, bias=False)
        self.bn3 = make_norm(norm_type, quarter, num_groups)
        self.conv3 = nn.Conv2d(quarter, out_channels - half - quarter, 3, padding=1, bias=False)
        self.downsample = None
        if in_channels != out_channels:
            self.downsample = nn.Sequential(
                make_norm(norm_type, in_channels, num_groups),
                nn.ReLU(),
                nn.Conv2d(in_channels, out_channels, 1, bias=False),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if inference_path(self):
            return self._forward_inference(x)
        out1 = self.conv1(F.relu(self.bn1(x)))
        out2 = self.conv2(F.relu(self.bn2(out1)))
        out3 = self.conv3(F.relu(self.bn3(out2)))
        residual = x if self.downsample is None else self.downsample(x)
        return torch.cat([out1, out2, out3], dim=1) + residual

    def _forward_inference(self, x: torch.Tensor) -> torch.Tensor:
        """Same result; in-place ReLUs, and the branches are added straight into the output (no cat buffer)."""
        out1 = self.conv1(F.relu(self.bn1(x), inplace=True))
        out2 = self.conv2(F.relu(self.bn2(out1), inplace=True))
        out3 = self.conv3(F.relu(self.bn3(out2), inplace=True))
        if self.downsample is None:
            output, residual = torch.empty_like(x), x
        else:
            output = residual = self.downsample(x)  # a fresh tensor of ours: sum into it in place
        start = 0
        for branch in (out1, out2, out3):
            end = start + branch.shape[1]
            torch.add(residual[:, start:end], branch, out=output[:, start:end])
            start = end
        return output


class HourGlass(GradientCheckpointingLayer):
    """Recursive hourglass: an upper branch at full resolution plus a pooled lower branch, upsampled and summed.

    The unit of activation checkpointing (one per stack): when a model enables it, training keeps only each
    hourglass' input and recomputes the inside in the backward pass; eval/no-grad calls run ``forward`` as is.
    """

    def __init__(self, depth: int, channels: int, norm_type: str = "batch", num_groups: int = 8):
        super().__init__()
        self.depth = depth
        for level in range(depth, 0, -1):
            self.add_module(f"b1_{level}", ConvBlock(channels, channels, norm_type, num_groups))
            self.add_module(f"b2_{level}", ConvBlock(channels, channels, norm_type, num_groups))
            self.add_module(f"b3_{level}", ConvBlock(channels, channels, norm_type, num_groups))
        self.add_module("b2_plus_1", ConvBlock(channels, channels, norm_type, num_groups))

    def _level(self, level: int, x: torch.Tensor) -> torch.Tensor:
        upper = getattr(self, f"b1_{level}")(x)
        lower = getattr(self, f"b2_{level}")(F.avg_pool2d(x, 2, stride=2))
        lower = self._level(level - 1, lower) if level > 1 else self.b2_plus_1(lower)
        lower = getattr(self, f"b3_{level}")(lower)
        if inference_path(self) and upper.shape[-2:] == (2 * lower.shape[-2], 2 * lower.shape[-1]):
            return add_upsampled_(upper, lower)  # upper is a fresh block output: safe to update in place
        return upper + F.interpolate(lower, scale_factor=2, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._level(self.depth, x)


class FAN(nn.Module):
    """Stacked hourglass network returning one heatmap tensor per stack and the last stack's features.

    Stem: 7x7/2 conv, ConvBlock, 2x2 average pool, two ConvBlocks (input / 4 resolution). Each stack: hourglass,
    ConvBlock, 1x1 conv + norm + ReLU, 1x1 heatmap head; between stacks the features and re-projected heatmaps are
    added to the stack input.
    """

    def __init__(
        self,
        num_landmarks: int = 68,
        num_stacks: int = 4,
        hourglass_depth: int = 4,
        hidden_size: int = 256,
        stem_channels: int = 64,
        norm_type: str = "batch",
        num_groups: int = 8,
    ):
        super().__init__()
        self.num_stacks = num_stacks
        half = hidden_size // 2
        self.conv1 = nn.Conv2d(3, stem_channels, 7, stride=2, padding=3)
        self.bn1 = make_norm(norm_type, stem_channels, num_groups)
        self.conv2 = ConvBlock(stem_channels, half, norm_type, num_groups)
        self.conv3 = ConvBlock(half, half, norm_type, num_groups)
        self.conv4 = ConvBlock(half, hidden_size, norm_type, num_groups)
        for i in range(num_stacks):
            self.add_module(f"m{i}", HourGlass(hourglass_depth, hidden_size, norm_type, num_groups))
            self.add_module(f"top_m_{i}", ConvBlock(hidden_size, hidden_size, norm_type, num_groups))
            self.add_module(f"conv_last{i}", nn.Conv2d(hidden_size, hidden_size, 1))
            self.add_module(f"bn_end{i}", make_norm(norm_type, hidden_size, num_groups))
            self.add_module(f"l{i}", HeatmapHead(hidden_size, num_landmarks, 1))
            if i < num_stacks - 1:
                self.add_module(f"bl{i}", nn.Conv2d(hidden_size, hidden_size, 1))
                self.add_module(f"al{i}", nn.Conv2d(num_landmarks, hidden_size, 1))

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        inference = inference_path(self)
        x = conv_norm_relu(self.conv1, self.bn1, pixel_values)
        x = F.avg_pool2d(self.conv2(x), 2, stride=2)
        previous = self.conv4(self.conv3(x))
        heatmaps = []
        for i in range(self.num_stacks):
            features = getattr(self, f"top_m_{i}")(getattr(self, f"m{i}")(previous))
            features = conv_norm_relu(getattr(self, f"conv_last{i}"), getattr(self, f"bn_end{i}"), features)
            heatmaps.append(getattr(self, f"l{i}")(features))
            if i < self.num_stacks - 1:
                merged = getattr(self, f"bl{i}")(features)
                if inference:  # merged is a fresh conv output
                    previous = merged.add_(previous).add_(getattr(self, f"al{i}")(heatmaps[-1]))
                else:
                    previous = previous + merged + getattr(self, f"al{i}")(heatmaps[-1])
        return features, tuple(heatmaps)


__all__ = [
    "FAN",
    "ConvBlock",
    "HeatmapHead",
    "HourGlass",
    "add_upsampled_",
    "batchnorm_safe_checkpoint_kwargs",
    "conv_norm_relu",
    "frozen_batchnorm_statistics",
    "inference_path",
    "make_norm",
]
