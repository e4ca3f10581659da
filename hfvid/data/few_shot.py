"""Few-shot classification data in the CoOp/CoCoOp protocol: k shots per class, base/new class splits, readers.

Datasets are ``datasets.Dataset`` tables with an ``image`` column and an integer ``label`` column whose
``ClassLabel`` feature names the classes (the readers below produce exactly that).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import torch


def class_names_of(dataset, label_column: str = "label") -> list[str]:
    """The class names of a table's ``ClassLabel`` column; ``ValueError`` if the column has none."""
    feature = dataset.features.get(label_column)
    names = getattr(feature, "names", None)
    if not names:
        raise ValueError(f"column {label_column!r} is not a ClassLabel with names; pass class_names explicitly")
    return list(names)


def few_shot_indices(labels: Sequence[int], num_shots: int, seed: int = 1, repeat: bool = True) -> list[int]:
    """Row indices of ``num_shots`` items per class, drawn exactly as Dassl's ``generate_fewshot_dataset`` (CoOp).

    Dassl groups the items by label in order of first appearance, then for each group calls
    ``random.sample(items, num_shots)`` (or ``random.choices(items, k=num_shots)`` when the class is smaller and
    ``repeat``, so items repeat; without ``repeat`` the whole class is kept) on Python's ``random`` freshly seeded
    with the run seed (``set_random_seed(cfg.SEED)`` in CoOp's ``train.py``, the first draws of the run). Sampling
    positions draws the same numbers as sampling the items, so with the rows in the split file's order (the CoOp
    readers keep it) the same seed selects the same 16-shot subset as CoOp. Indices come in Dassl's order.
    """
    if num_shots < 1:
        raise ValueError(f"num_shots must be >= 1, got {num_shots}")
    groups: dict[int, list[int]] = {}
    for row, label in enumerate(labels):
        groups.setdefault(int(label), []).append(row)
    rng = random.Random(seed)
    chosen = []
    for rows in groups.values():
        if len(rows) >= num_shots:
            chosen += rng.sample(rows, num_shots)
        else:
            chosen += rng.choices(rows, k=num_shots) if repeat else rows
    return chosen


def few_shot_subset(dataset, num_shots: int, seed: int = 1, label_column: str = "label", repeat: bool = True):
    """The k-shot subset of a table (see :func:`few_shot_indices`); CoOp samples it before the base/new split."""
    return dataset.select(few_shot_indices(dataset[label_column], num_shots, seed, repeat=repeat))


def base_new_classes(num_classes: int) -> tuple[list[int], list[int]]:
    """CoOp's split of sorted label ids: base = first ``ceil(n / 2)``, new = the rest."""
    if num_classes < 2:
        raise ValueError(f"a base/new split needs at least 2 classes, got {num_classes}")
    middle = math.ceil(num_classes / 2)
    return list(range(middle)), list(range(middle, num_classes))


def subsample_classes(dataset, subset: str = "all", label_column: str = "label", class_names=None):
    """Keep the ``"base"`` or ``"new"`` classes (or ``"all"``), relabelled from 0 with their names kept.

    The split is on the *sorted label ids* of the table (as in CoOp), so the same labelling gives the same split.
    """
    import datasets

    names = list(class_names) if class_names is not None else class_names_of(dataset, label_column)
    if subset == "all":
        return dataset
    if subset not in ("base", "new"):
        raise ValueError(f"subset must be 'all', 'base' or 'new', got {subset!r}")
    base, new = base_new_classes(len(names))
    keep = base if subset == "base" else new
    remap = {old: i for i, old in enumerate(keep)}
    kept = dataset.filter(lambda label: label in remap, input_columns=label_column)
    features = kept.features.copy()
    features[label_column] = datasets.ClassLabel(names=[names[i] for i in keep])
    return kept.map(lambda label: {label_column: remap[label]}, input_columns=label_column, features=features)


COOP_CROP_SCALE = (0.08, 1.0)  # Dassl's INPUT.RRCROP_SCALE default, used by CoOp/CoCoOp/BPL


def clip_train_transform(image_processor, scale: tuple[float, float] = COOP_CROP_SCALE, flip: bool = True):
    """CoOp/Dassl training augmentation for a CLIP image processor: PIL image -> normalised (3, H, W) float tensor.

    ``random_resized_crop`` (area ``scale``, torchvision's default aspect ratios, the processor's resampling, bicubic
    for CLIP) to the processor's crop size, ``random_flip`` (horizontal, p=0.5), then the processor's mean/std. The
    draws come from torch's global RNG (seeded by ``set_seed``; each DataLoader worker gets a seed from the loader).
    Evaluation keeps the processor itself: resize the shorter side + centre crop, as Dassl's test transform.
    """
    from torchvision.transforms import v2

    if not 0 < scale[0] <= scale[1] <= 1:
        raise ValueError(f"scale must satisfy 0 < min <= max <= 1, got {scale}")
    crop = image_processor.crop_size
    steps = [v2.RandomResizedCrop((crop["height"], crop["width"]), scale=scale,
                                  interpolation=int(image_processor.resample), antialias=True)]
    if flip:
        steps.append(v2.RandomHorizontalFlip())
    steps += [v2.ToImage(), v2.ToDtype(torch.float32, scale=True),
              v2.Normalize(mean=list(image_processor.image_mean), std=list(image_processor.image_std))]
    return v2.Compose(steps)


class AugmentedImageCollator:
    """Rows ``{"image", "label"}`` -> ``{"pixel_values", "labels"}`` through a per-image ``transform`` (training)."""

    def __init__(self, transform):
        self.transform = transform

    def __call__(self, rows):
        pixel_values = torch.stack([self.transform(row["image"].convert("RGB")) for row in rows])
        return {"pixel_values": pixel_values, "labels": torch.tensor([row["label"] for row in rows])}


def load_image_folder(folder, split: str = "train"):
    """An image-folder layout ``<folder>/<class name>/<image>`` as a table (classes sorted by folder name)."""
    from datasets import load_dataset

    return load_dataset("imagefolder", data_dir=str(folder), split=split)


def classification_table(dataset, image_column: str = "image", label_column: str = "label", class_names=None):
    """Any ``datasets`` table with images and integer labels -> columns ``image`` and ``label`` (ClassLabel).

    ``class_names`` are required when the label column is not a ``ClassLabel`` already.
    """
    import datasets

    missing = [c for c in (image_column, label_column) if c not in dataset.column_names]
    if missing:
        raise ValueError(f"the dataset has no column(s) {missing}; it has {dataset.column_names}")
    names = list(class_names) if class_names is not None else class_names_of(dataset, label_column)
    table = dataset.select_columns([image_column, label_column])
    if image_column != "image":
        table = table.rename_column(image_column, "image")
    if label_column != "label":
        table = table.rename_column(label_column, "label")
    return table.cast_column("label", datasets.ClassLabel(names=names))


__all__ = [
    "COOP_CROP_SCALE",
    "AugmentedImageCollator",
    "base_new_classes",
    "class_names_of",
    "classification_table",
    "clip_train_transform",
    "few_shot_indices",
    "few_shot_subset",
    "load_image_folder",
    "subsample_classes",
]
