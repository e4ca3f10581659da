"""Per-frame encoder + temporal module, shared by the face-video regressors (Affective Processes, contrastive AU).

* :class:`FrameEncoder`: a `transformers.ResNetModel` applied to every frame of ``(B, T, 3, H, W)`` clips (reshaped
  to ``(B*T, 3, H, W)``), pooled to ``(B, T, D)``, with an optional linear per-frame head (task predictions); its
  ResNet can start from ImageNet or face pre-training weights (``backbone_init``, :mod:`hfvid.modules.backbone_init`).
* :class:`TemporalModule`: ``"none"`` | ``"gru"`` | ``"transformer"`` over ``(B, T, D)`` with a frame mask; the GRU
  carries its state between calls so chunked streaming equals one pass.
* :func:`masked_mean`, :func:`masked_mse`, :func:`label_validity`, :func:`sinusoidal_time_encoding`: small helpers
  with the masking conventions of both methods.
* :class:`SlidingWindowStitcher`: streams per-frame items through overlapping windows and averages the per-frame
  outputs of the windows that share a frame, holding only one window of items (bounded memory on long videos).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

TEMPORAL_TYPES = ("none", "gru", "transformer")


def masked_mean(values: torch.Tensor, mask: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Mean of ``values`` over ``dim`` where ``mask`` is True; 0 where nothing is valid (never NaN).

    ``mask`` has the shape of ``values`` without its last dimension. Invalid entries are replaced (``torch.where``)
    before summing, so NaN or garbage there can neither leak into the result nor into its gradient.
    """
    weights = mask.to(values.dtype).unsqueeze(-1)
    total = torch.where(mask.unsqueeze(-1), values, torch.zeros_like(values)).sum(dim)
    return total / weights.sum(dim).clamp_min(1.0)


def masked_mse(predictions: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the entries where ``valid`` is True; exactly 0 (no NaN) when none is.

    Invalid entries are replaced with ``torch.where`` *before* squaring, so NaN, 9 or any other value there changes
    neither the loss nor any gradient.
    """
    error = torch.where(valid, predictions - torch.where(valid, labels, torch.zeros_like(labels)),
                        torch.zeros_like(predictions))
    return (error**2).sum() / valid.sum().clamp_min(1)


def label_validity(labels, label_mask=None, frame_mask=None) -> torch.Tensor:
    """``(B, T, K)`` True where a label counts: labelled (``label_mask``), not NaN, and the frame is valid."""
    valid = ~torch.isnan(labels)
    if frame_mask is not None:
        valid = valid & frame_mask.bool()[..., None]
    if label_mask is not None:
        label_mask = label_mask.bool()
        valid = valid & (label_mask[..., None] if label_mask.ndim == 2 else label_mask)
    return valid


def sinusoidal_time_encoding(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer-style sin/cos encoding of (fractional) positions ``(...,)`` -> ``(..., dim)``."""
    half = dim // 2
    frequencies = torch.exp(-math.log(10_000.0) * torch.arange(half, device=positions.device) / max(half, 1))
    angles = positions.to(torch.float32).unsqueeze(-1) * frequencies
    encoding = torch.cat([angles.sin(), angles.cos()], dim=-1)
    return nn.functional.pad(encoding, (0, dim - 2 * half))


class FrameEncoder(nn.Module):
    """A `ResNetModel` on every frame: ``(B, T, 3, H, W)`` -> features ``(B, T, D)`` (+ predictions ``(B, T, K)``).

    ``D`` is the backbone's last hidden size. Frames with ``frame_mask=False`` are still encoded (shapes stay
    static) but their features are zeroed, so garbage pixels never reach later stages.
    """

    def __init__(self, backbone_config, num_outputs: int = 0):
        super().__init__()
        from transformers import ResNetModel

        self.backbone = ResNetModel(backbone_config)
        self.feature_dim = backbone_config.hidden_sizes[-1]
        self.head = nn.Linear(self.feature_dim, num_outputs) if num_outputs else None

    @staticmethod
    def check_pixel_values(pixel_values: torch.Tensor) -> tuple[int, int]:
        """``(batch, frames)`` of ``(B, T, 3, H, W)`` clips; a ValueError naming the shape for anything else."""
        if pixel_values.ndim != 5 or pixel_values.shape[2] != 3:
            raise ValueError(f"pixel_values must have shape (batch, frames, 3, height, width), got "
                             f"{tuple(pixel_values.shape)}")
        return tuple(pixel_values.shape[:2])

    def forward(self, pixel_values: torch.Tensor, frame_mask: torch.Tensor | None = None):
        batch, frames = self.check_pixel_values(pixel_values)
        pooled = self.backbone(pixel_values.flatten(0, 1)).pooler_output.flatten(1)
        features = pooled.view(batch, frames, -1)
        if frame_mask is not None:
            features = torch.where(frame_mask[..., None], features, torch.zeros_like(features))
        predictions = self.head(features) if self.head is not None else None
        return features, predictions

    def load_backbone_init(self, backbone_init: str) -> bool:
        """Pretrained start of the ResNet (``"random"``, ``"torchvision:..."``, a Hub id or folder): see
        :func:`hfvid.modules.backbone_init.load_backbone_init`. Call it after the owning model's ``post_init``."""
        from .backbone_init import load_backbone_init

        return load_backbone_init(self.backbone, backbone_init)


@torch.no_grad()
def init_gru_weights(module: nn.Module, std: float) -> None:
    """Normal(``std``) weights and zero biases for an ``nn.GRU`` (transformers' ``_init_weights`` leaves GRUs alone,
    so a loaded model would otherwise keep torch's default init for them); other modules are left untouched."""
    from transformers import initialization as init

    if isinstance(module, nn.GRU):
        for name, param in module.named_parameters():
            if name.startswith("weight"):
                init.normal_(param, std=std)
            else:
                init.zeros_(param)


class TemporalModule(nn.Module):
    """Feature-level temporal model over ``(B, T, D)``: identity, a GRU, or a Transformer encoder.

    ``forward(x, frame_mask=None, state=None) -> (hidden (B, T, H), final_state)``. The GRU is causal and
    ``state`` continues a previous chunk (chunked = one pass); padded frames (mask False) keep the state unchanged
    and output zeros. The Transformer attends over the valid frames of the window (bidirectional, no state).
    """

    def __init__(self, temporal_type: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 num_heads: int = 4, bidirectional: bool = False):
        super().__init__()
        if temporal_type not in TEMPORAL_TYPES:
            raise ValueError(f"temporal_type must be one of {TEMPORAL_TYPES}, got {temporal_type!r}")
        self.temporal_type = temporal_type
        self.output_size = input_size
        if temporal_type == "gru":
            self.gru = nn.GRU(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                              bidirectional=bidirectional)
            self.output_size = hidden_size * (2 if bidirectional else 1)
        elif temporal_type == "transformer":
            self.input_proj = nn.Linear(input_size, hidden_size)
            layer = nn.TransformerEncoderLayer(hidden_size, num_heads, dim_feedforward=2 * hidden_size,
                                               dropout=0.0, batch_first=True)
            self.transformer = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
            self.output_size = hidden_size

    def forward(self, x: torch.Tensor, frame_mask: torch.Tensor | None = None, state: torch.Tensor | None = None):
        if self.temporal_type == "none":
            return x, None
        mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device) if frame_mask is None else frame_mask
        x = torch.where(mask[..., None], x, torch.zeros_like(x))
        if self.temporal_type == "transformer":
            hidden = self.transformer(self.input_proj(x), src_key_padding_mask=~mask)
            return torch.where(mask[..., None], hidden, torch.zeros_like(hidden)), None
        if frame_mask is None or self.gru.bidirectional:
            hidden, state = self.gru(x, state)
            return torch.where(mask[..., None], hidden, torch.zeros_like(hidden)), state
        if state is None:
            state = x.new_zeros(self.gru.num_layers, x.shape[0], self.gru.hidden_size)
        outputs = []  # step by step so masked frames keep the state (streaming with dropped frames)
        for t in range(x.shape[1]):
            step, new_state = self.gru(x[:, t : t + 1], state)
            keep = mask[:, t]
            state = torch.where(keep.view(1, -1, 1), new_state, state)
            outputs.append(torch.where(keep.view(-1, 1, 1), step, torch.zeros_like(step)))
        return torch.cat(outputs, dim=1), state


def window_starts(length: int, window_size: int, stride: int) -> list[tuple[int, int]]:
    """The ``(start, end)`` windows :class:`SlidingWindowStitcher` runs over a sequence of ``length`` frames."""
    spans, start, covered = [], 0, 0
    while start + window_size <= length:
        spans.append((start, start + window_size))
        covered, start = start + window_size, start + stride
    if covered < length:
        spans.append((start, length))
    return spans


class SlidingWindowStitcher:
    """Overlapping windows over a stream of per-frame items; per-frame outputs averaged over the windows.

    Windows are ``[s, s + window_size)`` for ``s = 0, stride, 2 stride, ...``; when the stream ends, the frames
    no full window covered get one last (shorter) window ``[s, end)``. ``run_window(items) -> (n, K) array`` is
    called once per window; :meth:`push` returns the ``(index, output)`` pairs that no later window can change
    (so callers can emit them at once), :meth:`flush` the rest. Memory: one window of items and outputs.
    """

    def __init__(self, window_size: int, stride: int, run_window: Callable[[list], np.ndarray]):
        if window_size < 1 or not 1 <= stride <= window_size:
            raise ValueError(f"need window_size >= 1 and 1 <= stride <= window_size, got {window_size}, {stride}")
        self.window_size, self.stride, self.run_window = window_size, stride, run_window
        self.items: list = []  # items of frames [self.offset, self.offset + len(items))
        self.offset = 0  # index of the first buffered frame = start of the next window
        self.sums: dict[int, np.ndarray] = {}
        self.counts: dict[int, int] = {}
        self.covered = 0  # frames [0, covered) were in at least one window

    def _run(self, end: int) -> None:
        outputs = np.asarray(self.run_window(self.items[: end - self.offset]), dtype=np.float64)
        if outputs.shape[0] != end - self.offset:
            raise ValueError(f"run_window returned {outputs.shape[0]} rows for a window of {end - self.offset}")
        for i, row in enumerate(outputs, start=self.offset):
            self.sums[i] = self.sums.get(i, 0.0) + row
            self.counts[i] = self.counts.get(i, 0) + 1
        self.covered = max(self.covered, end)

    def _emit(self, upto: int) -> list[tuple[int, np.ndarray]]:
        ready = [(i, self.sums.pop(i) / self.counts.pop(i)) for i in range(self.offset, upto)]
        self.items = self.items[upto - self.offset :]
        self.offset = upto
        return ready

    def push(self, item) -> list[tuple[int, np.ndarray]]:
        self.items.append(item)
        if len(self.items) < self.window_size:
            return []
        self._run(self.offset + self.window_size)
        return self._emit(self.offset + self.stride)

    def flush(self) -> list[tuple[int, np.ndarray]]:
        end = self.offset + len(self.items)
        if end > self.covered:
            self._run(end)
        ready = self._emit(end)
        self.covered = 0
        return ready


__all__ = [
    "init_gru_weights",
    "TEMPORAL_TYPES",
    "FrameEncoder",
    "SlidingWindowStitcher",
    "TemporalModule",
    "label_validity",
    "masked_mean",
    "masked_mse",
    "sinusoidal_time_encoding",
    "window_starts",
]
