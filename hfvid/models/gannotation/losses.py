"""GANnotation's training losses (official ``training/GANnotation.py``), written for any generator callable.

For a triplet (A, B, C) of one person with target maps (h_A, h_B, h_C) and ``G(x, h)`` the generator:

* ``L_rec = ||G(A, h_B) - B||_1``: paired reconstruction;
* ``L_cyc = ||G(G(A, h_B), h_A) - A||_1``: cycle ("self") consistency;
* ``L_rcc = ||G(G(A, h_B), h_C) - G(A, h_C)||_1``: the recurrent cycle consistency loss (the paper's
  contribution): the face for target C must not depend on having passed through B first, which removes the
  hidden noise pattern a cycle-only model uses and makes outputs re-usable as inputs (progressive synthesis);
* perceptual feature MSE, total variation, and the adversarial terms (WGAN-GP or hinge).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

Generate = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def triplet_losses(generate: Generate, source, target, third, maps_source, maps_target, maps_third) -> dict:
    """``{"generated": G(A, h_B), "rec", "cyc", "rcc"}`` for images (A, B, C) and their maps (h_A, h_B, h_C)."""
    generated = generate(source, maps_target)
    direct_third = generate(source, maps_third)
    return {
        "generated": generated,
        "rec": F.l1_loss(generated, target),
        "cyc": F.l1_loss(generate(generated, maps_source), source),
        "rcc": F.l1_loss(generate(generated, maps_third), direct_third),
    }


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """``2 * (sum dy^2 / n_y + sum dx^2 / n_x) / batch`` with ``n_y = C (H-1) W`` and ``n_x = C H (W-1)``."""
    batch, channels, height, width = images.shape
    dy = (images[:, :, 1:] - images[:, :, :-1]).pow(2).sum()
    dx = (images[:, :, :, 1:] - images[:, :, :, :-1]).pow(2).sum()
    return 2.0 * (dy / (channels * (height - 1) * width) + dx / (channels * height * (width - 1))) / batch


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP: ``mean_b (||grad_x D(x^)_b||_2 - 1)^2`` at ``x^ = a real + (1 - a) fake``, ``a ~ U(0, 1)`` per sample.

    The penalty is taken w.r.t. the interpolated images (which require grad), with ``create_graph`` so the critic's
    update differentiates through it.
    """
    alpha = torch.rand(real.shape[0], 1, 1, 1, generator=generator, device=real.device, dtype=real.dtype)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic(mixed)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """``-mean D(G(A, h_B))`` (the generator's term for both WGAN and hinge critics)."""
    return -fake_logits.mean()


class PerceptualLoss(nn.Module):
    """``sum_l MSE(F_l(x), F_l(y))`` over the feature maps of a frozen network (target features detached).

    ``features`` maps images in [-1, 1] to a list of tensors. :meth:`vgg16` builds the paper's VGG16 (relu1_2,
    relu2_2, relu3_3, relu4_3, ImageNet-normalised [0, 1] inputs) when its ImageNet weights are already on disk.
    """

    VGG16_LAYERS = (3, 8, 15, 22)

    def __init__(self, features: nn.Module):
        super().__init__()
        self.features = features.eval().requires_grad_(False)

    def forward(self, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            wanted = self.features(targets)
        return sum(F.mse_loss(a, b) for a, b in zip(self.features(images), wanted))

    @classmethod
    def vgg16(cls, weights_path: str | None = None) -> PerceptualLoss | None:
        """VGG16 features from ``weights_path`` or torch's hub cache; ``None`` when no weights are available offline."""
        import torchvision

        path = Path(weights_path) if weights_path else Path(torch.hub.get_dir()) / "checkpoints" / "vgg16-397923af.pth"
        if not path.is_file():
            return None
        network = torchvision.models.vgg16()
        network.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return cls(_VGGFeatures(network.features[: cls.VGG16_LAYERS[-1] + 1], cls.VGG16_LAYERS))


class _VGGFeatures(nn.Module):
    """[-1, 1] images -> ImageNet-normalised -> the activations after the given layer indices."""

    def __init__(self, layers: nn.Sequential, taps):
        super().__init__()
        self.layers, self.taps = layers, set(taps)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

    def forward(self, images):
        hidden = ((images + 1) / 2 - self.mean) / self.std
        outputs = []
        for index, layer in enumerate(self.layers):
            hidden = layer(hidden)
            if index in self.taps:
                outputs.append(hidden)
        return outputs


def generator_loss(config, generate: Generate, batch: dict, critic=None, perceptual=None) -> tuple[torch.Tensor, dict]:
    """The weighted generator objective of a batch ``{source, target, third, maps_source, maps_target, maps_third}``.

    ``critic(images, maps) -> logits`` enters only when ``config.lambda_adv > 0``; ``perceptual`` only when given
    and ``config.lambda_perc > 0``. Returns ``(total, parts)``; ``parts`` holds the detached terms and
    ``"generated"`` (``G(A, h_B)``, with its graph).
    """
    parts = triplet_losses(generate, batch["source"], batch["target"], batch["third"],
                           batch["maps_source"], batch["maps_target"], batch["maps_third"])
    generated = parts["generated"]
    total = config.lambda_rec * parts["rec"] + config.lambda_cyc * parts["cyc"] + config.lambda_rcc * parts["rcc"]
    if config.lambda_tv > 0:
        parts["tv"] = total_variation(generated)
        total = total + config.lambda_tv * parts["tv"]
    if perceptual is not None and config.lambda_perc > 0:
        parts["perc"] = perceptual(generated, batch["target"])
        total = total + config.lambda_perc * parts["perc"]
    if critic is not None and config.lambda_adv > 0:
        parts["adv"] = generator_adversarial_loss(critic(generated, batch["maps_target"]))
        total = total + config.lambda_adv * parts["adv"]
    parts = {k: (v if k == "generated" else v.detach()) for k, v in parts.items()}
    return total, parts


__all__ = [
    "PerceptualLoss",
    "generator_adversarial_loss",
    "generator_loss",
    "gradient_penalty",
    "total_variation",
    "triplet_losses",
]
