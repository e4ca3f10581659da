"""CoOp protocol pieces: Dassl's few-shot draw, the CoOp training augmentation, CoOp's folder layout."""

import random
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hfvid.data.few_shot import (AugmentedImageCollator, clip_train_transform, few_shot_indices, few_shot_subset,
                                 subsample_classes)
from hfvid.data.formats.coop import read_coop_dataset
from hfvid.data.synthetic_images import shape_class_names, tiny_clip

sys.path.insert(0, str(Path(__file__).parent))
from test_coop_splits import coop_dataset  # noqa: E402


def dassl_generate_fewshot(items, num_shots, seed):
    """Dassl's generate_fewshot_dataset (repeat=True) after CoOp's set_random_seed, written out on (path, label)."""
    random.seed(seed)
    tracker = defaultdict(list)
    for item in items:
        tracker[item[1]].append(item)
    dataset = []
    for _, group in tracker.items():
        dataset.extend(random.sample(group, num_shots) if len(group) >= num_shots else random.choices(group, k=num_shots))
    return dataset


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_few_shot_matches_dassl(seed):
    rng = np.random.default_rng(0)  # labels interleaved and not in sorted order of first appearance
    labels = [int(x) for x in rng.permutation([3] * 30 + [0] * 25 + [2] * 5 + [1] * 40)]
    items = [(f"img_{i}.jpg", label) for i, label in enumerate(labels)]
    expected = dassl_generate_fewshot(items, 16, seed)
    chosen = few_shot_indices(labels, 16, seed)
    assert [items[i] for i in chosen] == expected
    assert len(chosen) == 64 and len(set(chosen)) < 64  # class 2 has 5 images: repeated to 16, as Dassl does
    kept = few_shot_indices(labels, 16, seed, repeat=False)
    assert np.bincount(np.asarray(labels)[kept]).tolist() == [16, 16, 5, 16]


def test_few_shot_then_base_split_keeps_coop_order(tmp_path):
    """CoOp draws k shots over all classes, then keeps the base half: base rows equal the all-class draw's."""
    classes = shape_class_names(4)
    tables = read_coop_dataset("dtd", _coop_root(tmp_path, "dtd", "images", "split_zhou_DescribableTextures.json",
                                                 classes))
    shots = few_shot_subset(tables["train"], 2, seed=1)
    base = subsample_classes(shots, "base")
    assert base["image"] == [row["image"] for row in shots if row["label"] < 2]
    assert len(base) == 4 and base.features["label"].names == classes[:2]


def _coop_root(tmp_path, folder, image_dir, split_name, classes):
    root = tmp_path / folder
    split = coop_dataset(root, classes, per_split=(3, 1, 2))
    if image_dir != "images":
        (root / "images").rename(root / image_dir)
    split.rename(root / split_name)
    return tmp_path


def test_read_coop_dataset_layout(tmp_path):
    classes = shape_class_names(3)
    tables = read_coop_dataset("eurosat", _coop_root(tmp_path, "eurosat", "2750", "split_zhou_EuroSAT.json", classes))
    assert len(tables["train"]) == 9 and tables["test"].features["label"].names == classes
    with pytest.raises(ValueError, match="unknown CoOp dataset 'imagenet1k'"):
        read_coop_dataset("imagenet1k", tmp_path)


def test_train_augmentation_shapes_seed_and_eval_path():
    _, processor = tiny_clip(image_size=32)
    transform = clip_train_transform(processor.image_processor)
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8))
    torch.manual_seed(5)
    first = transform(image)
    torch.manual_seed(5)
    assert torch.equal(first, transform(image))  # deterministic under the seed
    torch.manual_seed(6)
    assert not torch.equal(first, transform(image))
    assert first.shape == (3, 32, 32) and first.dtype == torch.float32
    # with the whole image as the crop and no flip, the train path equals resize + normalise of the processor
    whole = clip_train_transform(processor.image_processor, scale=(1.0, 1.0), flip=False)
    square = image.crop((0, 0, 48, 48))
    reference = processor.image_processor(images=square, return_tensors="pt")["pixel_values"][0]
    assert (whole.transforms[0].ratio, whole.transforms[0].scale) == ((3 / 4, 4 / 3), (1.0, 1.0))
    assert torch.allclose(clip_train_transform(processor.image_processor, (1.0, 1.0), flip=False)(square), reference,
                          atol=0.05)
    batch = AugmentedImageCollator(transform)([{"image": image, "label": 1}, {"image": square, "label": 0}])
    assert batch["pixel_values"].shape == (2, 3, 32, 32) and batch["labels"].tolist() == [1, 0]
    # the evaluation path stays the processor's: resize the shorter side + centre crop, no randomness
    evaluated = [processor.image_processor(images=image, return_tensors="pt")["pixel_values"] for _ in range(2)]
    assert torch.equal(*evaluated)
    with pytest.raises(ValueError, match="scale"):
        clip_train_transform(processor.image_processor, scale=(0.0, 1.0))
