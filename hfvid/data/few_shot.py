"""Few-shot classification data in the CoOp/CoCoOp protocol: k shots per class, base/new class splits, readers.

Datasets are ``datasets.Dataset`` tables with an ``image`` column and an integer ``label`` column whose
``ClassLabel`` feature names the classes (the readers below produce exactly that).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def class_names_of(dataset, label_column: str = "label") -> list[str]:
    """The class names of a table's ``ClassLabel`` column; ``ValueError`` if the column has none."""
    feature = dataset.features.get(label_column)
    names = getattr(feature, "names", None)
    if not names:
        raise ValueError(f"column {label_column!r} is not a ClassLabel with names; pass class_names explicitly")
    return list(names)


def few_shot_indices(labels: Sequence[int], num_shots: int, seed: int = 1) -> list[int]:
    """Row indices of ``num_shots`` random items per class (all of a class when it has fewer), seeded, sorted."""
    if num_shots < 1:
        raise ValueError(f"num_shots must be >= 1, got {num_shots}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        chosen.extend(rng.choice(rows, size=min(num_shots, len(rows)), replace=False).tolist())
    return sorted(chosen)


def few_shot_subset(dataset, num_shots: int, seed: int = 1, label_column: str = "label"):
    """The k-shot subset of a table (see :func:`few_shot_indices`)."""
    return dataset.select(few_shot_indices(dataset[label_column], num_shots, seed))


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
    "base_new_classes",
    "class_names_of",
    "classification_table",
    "few_shot_indices",
    "few_shot_subset",
    "load_image_folder",
    "subsample_classes",
]
