"""Few-shot sampling, base/new splits, table readers, and the synthetic shapes + tiny CLIP tokenizer."""

import numpy as np
import pytest
from PIL import Image

from hfvid.data.few_shot import (
    base_new_classes,
    class_names_of,
    classification_table,
    few_shot_indices,
    few_shot_subset,
    load_image_folder,
    subsample_classes,
)
from hfvid.data.synthetic_images import render_shape, shape_class_names, synthetic_shape_images, tiny_clip


def test_base_new_split():
    assert base_new_classes(5) == ([0, 1, 2], [3, 4])
    assert base_new_classes(10) == ([0, 1, 2, 3, 4], [5, 6, 7, 8, 9])
    table = synthetic_shape_images(shape_class_names(5), 2, image_size=16)
    new = subsample_classes(table, "new")
    assert class_names_of(new) == shape_class_names(5)[3:] and sorted(set(new["label"])) == [0, 1]
    base = subsample_classes(table, "base")
    assert len(base) == 6 and class_names_of(base) == shape_class_names(5)[:3]
    with pytest.raises(ValueError, match="subset"):
        subsample_classes(table, "old")


def test_few_shot_is_seeded_and_per_class():
    labels = [0] * 10 + [1] * 3 + [2] * 7
    picked = few_shot_indices(labels, 4, seed=1)
    assert picked == few_shot_indices(labels, 4, seed=1) != few_shot_indices(labels, 4, seed=2)
    assert np.bincount(np.asarray(labels)[picked]).tolist() == [4, 4, 4]  # class 1 repeated to 4, as Dassl does
    counts = np.bincount(np.asarray(labels)[few_shot_indices(labels, 4, seed=1, repeat=False)])
    assert counts.tolist() == [4, 3, 4]
    table = synthetic_shape_images(shape_class_names(3), 5, image_size=16)
    assert len(few_shot_subset(table, 2)) == 6


def test_readers(tmp_path):
    for name in ("blue square", "red circle"):
        (tmp_path / name).mkdir()
        for i in range(2):
            Image.fromarray(render_shape(name, 16, np.random.default_rng(i))).save(tmp_path / name / f"{i}.png")
    table = load_image_folder(tmp_path)
    assert class_names_of(table) == ["blue square", "red circle"] and len(table) == 4
    import datasets

    raw = datasets.Dataset.from_dict({"img": table["image"], "y": table["label"]})
    with pytest.raises(ValueError, match="ClassLabel"):
        classification_table(raw, "img", "y")
    standard = classification_table(raw, "img", "y", class_names=["a", "b"])
    assert standard.column_names == ["image", "label"] and class_names_of(standard) == ["a", "b"]


def test_shapes_and_tiny_clip():
    image = render_shape("red circle", 32, np.random.default_rng(0))
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    assert np.array_equal(image, render_shape("red circle", 32, np.random.default_rng(0)))
    with pytest.raises(ValueError, match="colour"):
        render_shape("golden circle")
    clip, processor = tiny_clip()
    ids = processor.tokenizer("a photo of a cyan triangle.")["input_ids"]
    assert len(ids) == 9 and ids[-1] == clip.config.text_config.eos_token_id
    assert len(set(shape_class_names(32))) == 32
