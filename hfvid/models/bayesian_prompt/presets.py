"""The released BPL recipe per dataset as training presets, and Dassl's constant-warm-up + cosine lr schedule.

Provenance of every value (``PRESET_SOURCES``): "released scripts" = ``VPT.md`` / ``scripts/vpt/*.sh`` of
saic-fi/Bayesian-Prompt-Learning (per-dataset L and epochs, 16 shots, base classes); "released config" =
``configs/trainers/VPT/vit_b16_c4_ep10_batch1_ctxv1.yaml`` (SGD lr 0.002, batch 1, 1 constant warm-up epoch at
1e-5, cosine, n_ctx 4, "a photo of a", unconditional); "Dassl default [reading]" = values the yaml leaves to Dassl
(momentum 0.9, weight decay 5e-4, no gradient clipping); "ours" = hfvid choices that do not change results
(evaluation batch size: evaluation noise is shared across a batch). The paper's tables could not be read, so none
of these is checked against the paper's text [unverified].
"""

from __future__ import annotations

import math

import torch

# Shared by every dataset (the one released trainer config).
RECIPE = {
    "learning_rate": 2e-3,
    "per_device_train_batch_size": 1,
    "per_device_eval_batch_size": 100,
    "weight_decay": 5e-4,
    "optimizer": "sgd",
    "max_grad_norm": 0.0,
    "lr_schedule": "dassl",
    "warmup_epochs": 1,
    "warmup_lr": 1e-5,
    "num_shots": 16,
    "n_ctx": 4,
    "ctx_init": "a photo of a",
    "variant": "unconditional",
    "subsample_classes": "base",
    "augmentation": "coop",
}

PRESET_SOURCES = {
    "num_train_epochs": "released scripts", "num_samples_train": "released scripts",
    "num_samples_eval": "released scripts (test uses the training L)", "num_shots": "released scripts",
    "subsample_classes": "released scripts (base2new; cross-dataset source trains on all classes)",
    "learning_rate": "released config", "per_device_train_batch_size": "released config",
    "lr_schedule": "released config", "warmup_epochs": "released config", "warmup_lr": "released config",
    "n_ctx": "released config", "ctx_init": "released config", "variant": "released config",
    "augmentation": "released config (random_resized_crop, random_flip)", "optimizer": "released config",
    "weight_decay": "Dassl default [reading]", "max_grad_norm": "Dassl default [reading]",
    "per_device_eval_batch_size": "ours", "coop_dataset": "the dataset the preset is for (CoOp's name)",
}

# (MC samples L, epochs) per CoOp dataset name, from the released scripts (VPT.md).
_L_EPOCHS = {
    "imagenet": (10, 10),
    "caltech101": (20, 20),
    "oxford_pets": (40, 20),
    "stanford_cars": (20, 40),
    "oxford_flowers": (10, 40),
    "food101": (20, 20),
    "fgvc_aircraft": (10, 10),
    "sun397": (20, 10),
    "dtd": (40, 10),
    "eurosat": (20, 60),
    "ucf101": (5, 20),
}

PRESETS = {
    name: {**RECIPE, "coop_dataset": name, "num_samples_train": samples, "num_samples_eval": samples,
           "num_train_epochs": epochs}
    for name, (samples, epochs) in _L_EPOCHS.items()
}
# Cross-dataset transfer and domain generalisation: ImageNet, all 1000 classes, L 10, 10 epochs (xd_train.sh).
PRESETS["imagenet_cross_dataset"] = {**PRESETS["imagenet"], "subsample_classes": "all"}


def preset_values(name: str) -> dict:
    """A copy of one preset's argument values; ``ValueError`` naming the presets for an unknown name."""
    if name not in PRESETS:
        raise ValueError(f"unknown --preset {name!r}; expected one of {sorted(PRESETS)}")
    return dict(PRESETS[name])


def dassl_lr_lambda(base_lr: float, steps_per_epoch: int, num_epochs: int, warmup_epochs: int = 1,
                    warmup_lr: float = 1e-5, num_processes: int = 1):
    """The factor ``LambdaLR`` needs for Dassl's ``ConstantWarmupScheduler`` over ``CosineAnnealingLR``.

    Dassl steps the schedule once per epoch: epochs ``0 .. warmup_epochs - 1`` run at ``warmup_lr``; epoch
    ``e >= warmup_epochs`` runs at ``base_lr * (1 + cos(pi * (e - warmup_epochs) / num_epochs)) / 2`` (the successor
    starts counting after the warm-up, ``WARMUP_RECOUNT=True``, and anneals over ``T_max = MAX_EPOCH``). Here it is a
    per-step function constant within an epoch; a prepared scheduler is stepped ``num_processes`` times per optimizer
    step, hence the division. Steps past the last epoch stay at the end of the cosine.
    """
    if steps_per_epoch < 1 or num_epochs < 1 or warmup_epochs < 0:
        raise ValueError(f"need steps_per_epoch >= 1, num_epochs >= 1, warmup_epochs >= 0; got {steps_per_epoch}, "
                         f"{num_epochs}, {warmup_epochs}")

    def factor(step: int) -> float:
        epoch = step // num_processes // steps_per_epoch
        if epoch < warmup_epochs:
            return warmup_lr / base_lr
        t = min(epoch - warmup_epochs, num_epochs)
        return 0.5 * (1.0 + math.cos(math.pi * t / num_epochs))

    return factor


def dassl_lr_scheduler(optimizer, steps_per_epoch: int, num_epochs: int, warmup_epochs: int = 1,
                       warmup_lr: float = 1e-5, num_processes: int = 1) -> torch.optim.lr_scheduler.LambdaLR:
    """:func:`dassl_lr_lambda` for every parameter group of ``optimizer`` (a raw or an accelerate-prepared one)."""
    optimizer = getattr(optimizer, "optimizer", optimizer)
    lambdas = [dassl_lr_lambda(group.get("initial_lr", group["lr"]), steps_per_epoch, num_epochs, warmup_epochs,
                               warmup_lr, num_processes) for group in optimizer.param_groups]
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambdas)


__all__ = ["PRESETS", "PRESET_SOURCES", "RECIPE", "dassl_lr_lambda", "dassl_lr_scheduler", "preset_values"]
