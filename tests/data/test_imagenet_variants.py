"""ImageNet-V2/-Sketch/-A/-R readers on tiny folder trees in CoOp's layout."""

import numpy as np
import pytest
from PIL import Image

from hfvid.data.formats.coop import read_coop_dataset
from hfvid.data.formats.imagenet_variants import read_imagenet_a, read_imagenet_sketch, read_imagenet_v2

CLASSNAMES = "n01440764 tench\nn01443537 goldfish\nn01484850 great white shark\nn01491361 tiger shark\n"


def image(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(path)


def variant(root, image_dir, folders, per_folder=2):
    root.mkdir(parents=True)
    (root / "classnames.txt").write_text(CLASSNAMES)
    for folder in folders:
        for i in range(per_folder):
            image(root / image_dir / folder / f"{i}.jpg")
    return root


def test_imagenet_v2_folders_are_class_indices(tmp_path):
    root = variant(tmp_path / "imagenetv2", "imagenetv2-matched-frequency-format-val", ["0", "1", "2", "3"])
    table = read_imagenet_v2(root)["test"]
    assert table.features["label"].names == ["tench", "goldfish", "great white shark", "tiger shark"]
    assert table["label"] == [0, 0, 1, 1, 2, 2, 3, 3] == table["imagenet_label"]
    (root / "imagenetv2-matched-frequency-format-val" / "3" / "0.jpg").unlink()
    (root / "imagenetv2-matched-frequency-format-val" / "3" / "1.jpg").unlink()
    (root / "imagenetv2-matched-frequency-format-val" / "3").rmdir()
    with pytest.raises(ValueError, match="1 class folder.*missing, e.g. '3'"):
        read_imagenet_v2(root)


def test_sketch_and_subset_variants(tmp_path):
    sketch = variant(tmp_path / "imagenet-sketch", "images", ["n01443537", "n01440764"])
    table = read_imagenet_sketch(sketch)["test"]
    assert table.features["label"].names == ["tench", "goldfish"] and table["label"] == [0, 0, 1, 1]
    # ImageNet-A: a subset of the 1000 synsets, labels over the subset, the 1000-class index kept; README ignored
    adversarial = variant(tmp_path / "imagenet-adversarial", "imagenet-a", ["n01491361", "n01443537"], per_folder=1)
    (adversarial / "imagenet-a" / "README.txt").write_text("not a class")
    table = read_imagenet_a(adversarial)["test"]
    assert table.features["label"].names == ["goldfish", "tiger shark"]
    assert table["label"] == [0, 1] and table["imagenet_label"] == [1, 3]
    rendition = variant(tmp_path / "imagenet-rendition", "imagenet-r", ["n01484850"], per_folder=3)
    table = read_coop_dataset("imagenet_r", tmp_path)["test"]
    assert table.features["label"].names == ["great white shark"] and table["imagenet_label"] == [2, 2, 2]
    (rendition / "imagenet-r" / "n99999999").mkdir()
    with pytest.raises(ValueError, match="'n99999999' is not a wnid"):
        read_coop_dataset("imagenet_r", tmp_path)
    with pytest.raises(FileNotFoundError, match="imagenet-a"):
        read_imagenet_a(sketch)
