"""Metrics of landmark-guided face synthesis (GANnotation): appearance, consistency and landmark adherence.

Images are torch tensors (B, C, H, W) with a known ``data_range`` (2 for [-1, 1], 1 for [0, 1]).

* appearance preservation against ground-truth frames: mean absolute error, PSNR, SSIM;
* consistency of a generator ``G(x, h)``: recurrent consistency gap ``mean |G(G(A, h_B), h_C) - G(A, h_C)|`` and
  cycle error ``mean |G(G(A, h_B), h_A) - A|``;
* landmark adherence: NME of a (pluggable) landmark detector's points on the outputs against the targets.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def _check_pair(prediction: torch.Tensor, reference: torch.Tensor) -> None:
    if prediction.shape != reference.shape or prediction.ndim != 4:
        raise ValueError(f"images must both have shape (B, C, H, W), got {tuple(prediction.shape)} and "
                         f"{tuple(reference.shape)}")


def l1_error(prediction: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean absolute pixel error."""
    _check_pair(prediction, reference)
    return (prediction.double() - reference.double()).abs().mean().item()


def psnr(prediction: torch.Tensor, reference: torch.Tensor, data_range: float = 2.0) -> float:
    """Mean over images of ``10 log10(range^2 / MSE)`` (dB); identical images give ``inf``."""
    _check_pair(prediction, reference)
    mse = (prediction.double() - reference.double()).pow(2).flatten(1).mean(1)
    return (10 * torch.log10(data_range**2 / mse)).mean().item()


def ssim(prediction: torch.Tensor, reference: torch.Tensor, data_range: float = 2.0, window: int = 11,
         sigma: float = 1.5) -> float:
    """Mean structural similarity (Wang et al. 2004): Gaussian window 11 / 1.5, K1 = 0.01, K2 = 0.03, valid region."""
    _check_pair(prediction, reference)
    x, y = prediction.double(), reference.double()
    channels = x.shape[1]
    window = min(window, x.shape[-1], x.shape[-2])
    coords = torch.arange(window, dtype=torch.float64) - (window - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    kernel = (g[:, None] * g[None, :]).expand(channels, 1, window, window).to(x.device)

    def blur(t):
        return F.conv2d(t, kernel, groups=channels)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    value = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return value.mean().item()


@torch.no_grad()
def recurrent_consistency_gap(generate: Callable, source, maps_target, maps_third) -> float:
    """``mean |G(G(A, h_B), h_C) - G(A, h_C)|``: how much passing through B changes the result for C."""
    return (generate(generate(source, maps_target), maps_third) - generate(source, maps_third)).abs().mean().item()


@torch.no_grad()
def cycle_error(generate: Callable, source, maps_source, maps_target) -> float:
    """``mean |G(G(A, h_B), h_A) - A|``."""
    return (generate(generate(source, maps_target), maps_source) - source).abs().mean().item()


def landmark_consistency_nme(detect: Callable, images, target_landmarks, eye_indices=(36, 45)) -> float:
    """NME (%) of ``detect(images) -> (B, N, 2)`` on synthesised images against their target landmarks.

    ``eye_indices`` name the outer eye corners for the inter-ocular normaliser (``None``: box normaliser). Any
    landmark model fits, e.g. an hfvid SH-FAN wrapped to return crop-pixel points.
    """
    import numpy as np

    from .landmarks import landmark_metrics

    predictions = detect(images)
    predictions = predictions.detach().cpu().numpy() if hasattr(predictions, "detach") else np.asarray(predictions)
    references = target_landmarks.detach().cpu().numpy() if hasattr(target_landmarks, "detach") else target_landmarks
    if eye_indices is None:
        references = np.asarray(references)
        boxes = np.concatenate([references.min(1), references.max(1)], axis=1)
        return float(landmark_metrics(predictions, references, normalization="box", boxes=boxes)["nme"])
    return float(landmark_metrics(predictions, references, normalization="inter_ocular",
                                  eye_indices=eye_indices)["nme"])


__all__ = ["cycle_error", "l1_error", "landmark_consistency_nme", "psnr", "recurrent_consistency_gap", "ssim"]
