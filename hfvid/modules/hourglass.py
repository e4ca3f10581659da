"""FAN: stacked hourglass network with multi-scale pre-activation blocks (Bulat & Tzimiropoulos, ICCV 2017).

Module names mirror the ``face-alignment`` package (``conv1, bn1, conv2..4, m{i}.b1_{level}, top_m_{i},
conv_last{i}, bn_end{i}, l{i}, bl{i}, al{i}``) so its 2DFAN-4 state dict loads key for key. Widths, depth, stack
count and the normalisation layer are parameters so tests and other methods can use small networks.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def make_norm(norm_type: str, channels: int, num_groups: int = 8) -> nn.Module:
    """BatchNorm (FAN parity) or GroupNorm (stable with tiny batches)."""
    if norm_type == "batch":
        return nn.BatchNorm2d(channels)
    if norm_type == "group":
        return nn.GroupNorm(math.gcd(num_groups, channels), channels)
    raise ValueError(f"norm_type must be 'batch' or 'group', got {norm_type!r}")


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
        out1 = self.conv1(F.relu(self.bn1(x)))
        out2 = self.conv2(F.relu(self.bn2(out1)))
        out3 = self.conv3(F.relu(self.bn3(out2)))
        residual = x if self.downsample is None else self.downsample(x)
        return torch.cat([out1, out2, out3], dim=1) + residual


class HourGlass(nn.Module):
    """Recursive hourglass: an upper branch at full resolution plus a pooled lower branch, upsampled and summed."""

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
        x = F.relu(self.bn1(self.conv1(pixel_values)))
        x = F.avg_pool2d(self.conv2(x), 2, stride=2)
        previous = self.conv4(self.conv3(x))
        heatmaps = []
        for i in range(self.num_stacks):
            features = getattr(self, f"top_m_{i}")(getattr(self, f"m{i}")(previous))
            features = F.relu(getattr(self, f"bn_end{i}")(getattr(self, f"conv_last{i}")(features)))
            heatmaps.append(getattr(self, f"l{i}")(features))
            if i < self.num_stacks - 1:
                previous = previous + getattr(self, f"bl{i}")(features) + getattr(self, f"al{i}")(heatmaps[-1])
        return features, tuple(heatmaps)


__all__ = ["FAN", "ConvBlock", "HeatmapHead", "HourGlass", "make_norm"]
