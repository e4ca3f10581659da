"""Few-shot task-head training and prediction of the FRL benchmark, one loop for every task, on Accelerate's device.

Protocol defaults (:class:`HeadTrainingConfig`), against ``methods/face_pretraining.md`` 3.6 (the paper's own
downstream settings could not be read; these are the spec's *[reading]* defaults):

* a fixed number of optimizer steps per task whatever the data fraction (``max_steps``; so 1% runs are not
  under-trained), or ``num_epochs`` over the few-shot subset when set;
* AdamW, weight decay 1e-4, cosine schedule (any ``transformers`` scheduler name) after a linear warm-up over
  the first 10% of the steps (the head starts from random weights);
* learning rates: ``finetune`` 1e-3 for the head and 1e-4 for the backbone (the spec's 1e-4 / 1e-3);
  ``linear`` 1e-2 (a probe on standardised frozen features needs a larger step);
* BatchNorm statistics frozen when fine-tuning with per-device batches below 16 (tiny batches make them unstable);
* augmentation (box scale/shift jitter, flip for pooled tasks, brightness/contrast): :class:`FaceCropAugmentation`.

Images stream through a DataLoader (:class:`hfvid.data.face_benchmark.FaceTaskDataset`): nothing holds the whole
training set, and the linear protocol's feature statistics are accumulated batch by batch. With several processes
(``accelerate launch``) training is data-parallel (DDP through ``accelerator.prepare``) and :func:`predict` gathers
every process's predictions in dataset order.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...data.face_benchmark import FaceCropAugmentation
from ...modules.heatmaps import apply_affine, invert_affine
from .modeling_face_pretraining import (
    FaceRepresentation3DLandmarkHead,
    FaceRepresentationArcFaceHead,
    FaceRepresentationAUIntensityHead,
    FaceRepresentationExpressionHead,
    FaceRepresentationLandmarkHead,
)

PROTOCOLS = ("finetune", "linear")
DEFAULT_LEARNING_RATES = {"finetune": 1e-3, "linear": 1e-2}  # head learning rate per protocol
BACKBONE_LR_FACTOR = 0.1  # finetune: backbone learning rate = head learning rate x this (1e-4 vs 1e-3)
MIN_BATCHNORM_BATCH = 16


@dataclass
class HeadTrainingConfig:
    """How each (task, fraction, seed) head is trained; see the module docstring for the protocol defaults."""

    max_steps: int = 200
    num_epochs: float | None = None  # when set: epochs over the few-shot subset instead of max_steps
    batch_size: int = 32
    learning_rate: float | None = None  # head; None: DEFAULT_LEARNING_RATES[protocol]
    backbone_learning_rate: float | None = None  # finetune; None: learning_rate x BACKBONE_LR_FACTOR
    weight_decay: float = 1e-4
    lr_scheduler_type: str = "cosine"
    warmup_ratio: float = 0.1
    augment: bool = True
    scale_jitter: float = 0.1
    shift_jitter: float = 0.05
    flip_prob: float = 0.5
    color_jitter: float = 0.2
    eval_batch_size: int = 64
    num_workers: int = 0

    def __post_init__(self):
        for name in ("max_steps", "batch_size", "eval_batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be an int >= 1, got {getattr(self, name)!r}")
        if self.num_epochs is not None and not self.num_epochs > 0:
            raise ValueError(f"num_epochs must be > 0 (or None for max_steps), got {self.num_epochs!r}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")
        if self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {self.num_workers!r}")
        self.augmentation()  # validates the jitter strengths

    def total_steps(self, num_items: int, num_processes: int = 1) -> int:
        """Optimizer steps of one run on ``num_items`` training items."""
        if self.num_epochs is None:
            return self.max_steps
        per_epoch = math.ceil(num_items / (self.batch_size * num_processes))
        return max(1, math.ceil(self.num_epochs * per_epoch))

    def head_learning_rate(self, protocol: str) -> float:
        return DEFAULT_LEARNING_RATES[protocol] if self.learning_rate is None else self.learning_rate

    def augmentation(self) -> FaceCropAugmentation | None:
        if not self.augment:
            return None
        return FaceCropAugmentation(self.scale_jitter, self.shift_jitter, self.flip_prob, self.color_jitter)

    def to_dict(self) -> dict:
        return asdict(self)


def check_protocol(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    return protocol


# ------------------------------------------------------------------------------------------------ backbones
class Backbone(nn.Module):
    """Any image encoder as ``pixel_values -> (pooled (B, D), feature map (B, C, h, w) or None)``."""

    def __init__(self, model: nn.Module, image_size: int):
        super().__init__()
        self.model, self.image_size = model, image_size

    def forward(self, pixel_values):
        out = self.model(pixel_values=pixel_values)
        pooled = out.get("pooler_output") if hasattr(out, "get") else None
        if pooled is None:
            raise ValueError(f"backbone {type(self.model).__name__} returns no pooled output (pooler_output); the "
                             "benchmark needs a pooled image feature")
        feature_map = out.get("last_hidden_state")
        return pooled.flatten(1), feature_map if feature_map is not None and feature_map.ndim == 4 else None


def load_backbone(backbone, image_size: int | None = None) -> tuple[Backbone, object]:
    """(Backbone, image processor) from a path / hub id / model object; task-head checkpoints give their encoder."""
    from transformers import AutoImageProcessor, AutoModel

    from .image_processing_face_pretraining import FaceRepresentationImageProcessor

    processor = None
    if isinstance(backbone, (str, Path)):
        model = AutoModel.from_pretrained(str(backbone))
        try:
            processor = AutoImageProcessor.from_pretrained(str(backbone))
        except (OSError, ValueError):
            processor = None
    else:
        model = backbone
    model = getattr(model, "face_repr", model)
    size = image_size or getattr(processor, "image_size", None) or getattr(model.config, "image_size", None) or 224
    if not isinstance(processor, FaceRepresentationImageProcessor):
        processor = FaceRepresentationImageProcessor(image_size=size, margin=1.0)
    wrapped = Backbone(model.eval(), size)
    with torch.no_grad():
        wrapped(torch.zeros(1, 3, size, size))  # fails early for a backbone without pooled output
    return wrapped, processor


# ------------------------------------------------------------------------------------------------ heads
class StandardizedHead(nn.Module):
    """``head((features - mean) / std)`` with per-channel statistics of the frozen training features.

    The linear protocol fits them on the training subset (like the affine-free BatchNorm in front of common linear
    probes): features of an untrained or self-supervised backbone have arbitrary per-channel scales, which a few
    hundred AdamW steps on the raw values cannot undo. Identity until fitted (the finetune protocol)."""

    def __init__(self, head: nn.Module):
        super().__init__()
        self.head = head
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("std", torch.ones(()))

    @torch.no_grad()
    def fit_batches(self, batches) -> None:
        """Per-channel mean and (unbiased) std over every element of a stream of ``(N, D)`` or ``(N, C, h, w)``
        feature batches, accumulated in float64 (flat memory in the number of items)."""
        total = squares = None
        count = 0
        for features in batches:
            dims = [d for d in range(features.ndim) if d != 1]
            values = features.double()
            total = values.sum(dims) if total is None else total + values.sum(dims)
            squares = (values**2).sum(dims) if squares is None else squares + (values**2).sum(dims)
            count += features.numel() // features.shape[1]
        if total is None:
            raise ValueError("cannot fit feature statistics on an empty training set")
        shape = [1] * features.ndim
        shape[1] = -1
        mean = total / count
        var = (squares - count * mean**2) / max(count - 1, 1)
        self.mean = mean.view(shape)[0].to(features.dtype)
        self.std = (var.clamp_min(0).sqrt().clamp_min(1e-6) if count > 1 else torch.ones_like(var)).view(
            shape)[0].to(features.dtype)

    def forward(self, features, **labels):
        return self.head((features - self.mean) / self.std, **labels)


def build_head(task: str, backbone: Backbone, train_records: list[dict]) -> StandardizedHead:
    """The task head sized for this backbone (a dummy forward gives the feature shapes), input-standardised."""
    size = backbone.image_size
    device = next(backbone.parameters()).device
    with torch.no_grad():
        pooled, feature_map = backbone(torch.zeros(1, 3, size, size, device=device))
    dim = pooled.shape[1]
    if task == "landmarks":
        if feature_map is None:
            raise ValueError("the landmarks task needs a backbone whose last_hidden_state is a (B, C, h, w) map")
        heatmap = size // 4
        num_deconv = max(0, round(math.log2(heatmap / feature_map.shape[-1])))
        head = FaceRepresentationLandmarkHead(feature_map.shape[1], train_records[0]["landmarks"].shape[0], size,
                                   feature_map.shape[-1] * 2**num_deconv, num_deconv, head_channels=64)
    elif task == "alignment_3d":
        head = FaceRepresentation3DLandmarkHead(dim, train_records[0]["landmarks_3d"].shape[0], size)
    elif task == "au_intensity":
        head = FaceRepresentationAUIntensityHead(dim, len(train_records[0]["intensities"]))
    elif task == "expression":
        head = FaceRepresentationExpressionHead(dim, 1 + max(r["label"] for r in train_records))
    else:
        identities = len({r["identity"] for r in train_records})
        head = FaceRepresentationArcFaceHead(dim, min(128, dim), identities, scale=16.0, margin=0.2)
    return StandardizedHead(head).to(device)


def head_input(task: str, pooled, feature_map):
    """The landmark heatmap head reads the feature map; every other head the pooled feature."""
    return feature_map if task == "landmarks" else pooled


class TaskModel(nn.Module):
    """Backbone + standardised head as one module (what Accelerate prepares): ``forward(pixel_values, **labels)``."""

    def __init__(self, task: str, backbone: Backbone, head: StandardizedHead):
        super().__init__()
        self.task, self.backbone, self.head = task, backbone, head

    def forward(self, pixel_values, **labels):
        if any(p.requires_grad for p in self.backbone.parameters()):
            pooled, feature_map = self.backbone(pixel_values)
        else:
            with torch.no_grad():
                pooled, feature_map = self.backbone(pixel_values)
        return self.head(head_input(self.task, pooled, feature_map), **labels)


# ------------------------------------------------------------------------------------------------ loops
def _loader(dataset, batch_size: int, num_workers: int, shuffle: bool = False, seed: int = 0):
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                                       num_workers=num_workers)


def _freeze_batchnorm(module: nn.Module) -> None:
    for layer in module.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            layer.eval()


def train_head(task: str, backbone: Backbone, head: StandardizedHead, train_set, protocol: str,
               config: HeadTrainingConfig, accelerator, seed: int = 0, stats_set=None) -> list[float]:
    """Train ``head`` (and the backbone for ``finetune``) on ``train_set`` (a :class:`FaceTaskDataset`) for
    :meth:`HeadTrainingConfig.total_steps`; returns the loss of every step.

    ``linear``: the backbone is frozen in eval mode and the head's input statistics are first fitted on
    ``stats_set`` (the same items without augmentation; default ``train_set``), streamed; every process fits them on
    the whole subset, so all ranks start from the same head."""
    from transformers import get_scheduler

    finetune = check_protocol(protocol) == "finetune"
    device = accelerator.device
    backbone.to(device)
    head.to(device)
    backbone.requires_grad_(finetune)
    if not finetune:
        backbone.eval()
        stats_set = train_set if stats_set is None else stats_set
        stats_loader = _loader(stats_set, config.eval_batch_size, config.num_workers)
        with torch.no_grad():
            head.fit_batches(head_input(task, *backbone(batch["pixel_values"].to(device))) for batch in stats_loader)
    head_lr = config.head_learning_rate(protocol)
    groups = [{"params": list(head.parameters()), "lr": head_lr}]
    if finetune:
        backbone_lr = config.backbone_learning_rate
        if backbone_lr is None:
            backbone_lr = head_lr * BACKBONE_LR_FACTOR
        groups.append({"params": list(backbone.parameters()), "lr": backbone_lr})
    optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
    steps = config.total_steps(len(train_set), accelerator.num_processes)
    scheduler = get_scheduler(config.lr_scheduler_type, optimizer, num_warmup_steps=int(config.warmup_ratio * steps),
                              num_training_steps=steps)  # stepped once per optimizer step (not prepared)
    model = TaskModel(task, backbone, head)
    loader = _loader(train_set, config.batch_size, config.num_workers, shuffle=True, seed=seed)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    model.train()
    backbone.train(finetune)
    if finetune and config.batch_size < MIN_BATCHNORM_BATCH:
        _freeze_batchnorm(backbone)
    losses, epoch = [], 0
    while len(losses) < steps:
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch)
        for batch in loader:
            labels = {k: v for k, v in batch.items() if k in ("labels", "valence_arousal")}
            loss = model(batch["pixel_values"], **labels).loss
            optimizer.zero_grad()
            accelerator.backward(loss)
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            if len(losses) == steps:
                break
        epoch += 1
    accelerator.free_memory()  # drop the prepared wrappers; backbone and head keep the trained weights
    backbone.eval()
    head.eval()
    return losses


@torch.no_grad()
def predict(task: str, backbone: Backbone, head: StandardizedHead, dataset, accelerator,
            config: HeadTrainingConfig) -> dict[str, np.ndarray]:
    """Predictions in dataset units for every item of ``dataset``, in order, gathered over all processes:
    ``landmarks`` (image pixels; x, y of the 3D task), ``intensities``, ``label`` + ``valence_arousal`` or
    ``embeddings``, plus ``index``."""
    backbone.to(accelerator.device).eval()
    head.to(accelerator.device).eval()
    loader = accelerator.prepare_data_loader(_loader(dataset, config.eval_batch_size, config.num_workers))
    parts: dict[str, list] = {}
    for batch in loader:
        pooled, feature_map = backbone(batch["pixel_values"])
        out = head(head_input(task, pooled, feature_map))
        to_image = invert_affine(batch["crop_matrices"])
        if task == "landmarks":
            values = {"landmarks": apply_affine(to_image, out.landmarks)}
        elif task == "alignment_3d":
            values = {"landmarks": apply_affine(to_image, out.landmarks_3d[..., :2])}
        elif task == "au_intensity":
            values = {"intensities": out.intensities}
        elif task == "expression":
            values = {"label": out.logits.argmax(-1), "valence_arousal": out.valence_arousal}
        else:
            values = {"embeddings": out.embeddings}
        values["index"] = batch["index"]
        for key, value in accelerator.gather_for_metrics(values).items():
            parts.setdefault(key, []).append(value.cpu().numpy())
    return {key: np.concatenate(value) for key, value in parts.items()}


__all__ = [
    "BACKBONE_LR_FACTOR",
    "DEFAULT_LEARNING_RATES",
    "PROTOCOLS",
    "Backbone",
    "HeadTrainingConfig",
    "StandardizedHead",
    "TaskModel",
    "build_head",
    "check_protocol",
    "head_input",
    "load_backbone",
    "predict",
    "train_head",
]
