"""Helpers shared by the checkpoint converters (``hfvid/models/*/convert_*.py``): unwrap an original state dict and
load a converted one strictly, with an error that lists what does not fit instead of torch's first mismatch."""

from __future__ import annotations

import torch
from torch import nn


def unwrap_state_dict(checkpoint, what: str) -> dict[str, torch.Tensor]:
    """Accept a plain state dict or ``{"state_dict": ...}``; drop DataParallel ``module.`` prefixes.

    ``what`` names the expected checkpoint in the ValueError raised for anything that is not names -> tensors.
    """
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("state_dict"), dict):
        checkpoint = checkpoint["state_dict"]
    if not isinstance(checkpoint, dict) or not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise ValueError(f"{what}: expected a state dict (names -> tensors, or {{'state_dict': ...}} of them)")
    return {key.removeprefix("module."): value for key, value in checkpoint.items()}


def load_state_dict_strictly(model: nn.Module, state_dict: dict, mismatch: str, strip_prefix: str = "",
                             limit: int | None = None, set_eval: bool = True) -> nn.Module:
    """Load ``state_dict`` into ``model`` (all keys, all shapes) and return it, in eval mode if ``set_eval`` (a
    converted checkpoint; ``set_eval=False`` keeps the train/eval mode of a submodule loaded in place).

    On any missing, unexpected or mis-shaped key a ValueError ``"{mismatch}: missing keys [...], unexpected keys
    [...], shape mismatches [...]"`` lists them (names without ``strip_prefix``; at most ``limit`` of each).
    """
    expected = model.state_dict()
    missing = sorted(k.removeprefix(strip_prefix) for k in expected.keys() - state_dict.keys())
    unexpected = sorted(k.removeprefix(strip_prefix) for k in state_dict.keys() - expected.keys())
    mismatched = sorted(f"{k.removeprefix(strip_prefix)} {tuple(v.shape)} != {tuple(expected[k].shape)}"
                        for k, v in state_dict.items() if k in expected and v.shape != expected[k].shape)
    if missing or unexpected or mismatched:
        raise ValueError(f"{mismatch}: missing keys {missing[:limit]}, unexpected keys {unexpected[:limit]}, "
                         f"shape mismatches {mismatched[:limit]}")
    model.load_state_dict(state_dict, strict=True)
    return model.eval() if set_eval else model


__all__ = ["load_state_dict_strictly", "unwrap_state_dict"]
