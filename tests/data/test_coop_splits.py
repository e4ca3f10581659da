"""CoOp benchmark split readers: split_zhou JSON, FGVC-Aircraft lists, ImageNet classnames + folders."""

import json

import numpy as np
import pytest
from PIL import Image

from hfvid.data.formats.coop import read_coop_split, read_fgvc_aircraft, read_imagenet
from hfvid.data.synthetic_images import render_shape, shape_class_names


def save(path, class_name, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(render_shape(class_name, 32, np.random.default_rng(seed))).save(path)


def coop_dataset(root, classes, per_split=(3, 1, 2)):
    """A split_zhou-style JSON over ``<root>/images/<class>/<i>.png``; returns the JSON path."""
    splits = {}
    for split, count in zip(("train", "val", "test"), per_split):
        splits[split] = []
        for label, name in enumerate(classes):
            for i in range(count):
                rel = f"{name.replace(' ', '_')}/{split}_{i}.png"
                save(root / "images" / rel, name, seed=i)
                splits[split].append([rel, label, name])
    path = root / "split_zhou_Toy.json"
    path.write_text(json.dumps(splits))
    return path


def test_split_json_tables(tmp_path):
    classes = shape_class_names(4)
    tables = read_coop_split(coop_dataset(tmp_path, classes), tmp_path / "images")
    assert {k: len(v) for k, v in tables.items()} == {"train": 12, "val": 4, "test": 8}
    assert tables["test"].features["label"].names == classes
    row = tables["train"][4]
    assert row["label"] == 1 and row["image"].size == (32, 32)


def test_split_json_errors(tmp_path):
    path = coop_dataset(tmp_path, shape_class_names(2))
    splits = json.loads(path.read_text())
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(splits, test=splits["test"] + [["x.png", 0, "another name"]])))
    with pytest.raises(ValueError, match="label 0 is named both"):
        read_coop_split(bad, tmp_path / "images")
    bad.write_text(json.dumps(dict(splits, train=[["x.png", "0", "red circle"]])))
    with pytest.raises(ValueError, match=r"train\[0\] must be \[image path, int label, class name\]"):
        read_coop_split(bad, tmp_path / "images")
    with pytest.raises(ValueError, match="do not exist"):
        read_coop_split(path, tmp_path / "elsewhere")
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="is not JSON"):
        read_coop_split(bad, tmp_path)


def test_fgvc_aircraft_lists(tmp_path):
    (tmp_path / "variants.txt").write_text("707-320\nA300B4\n")
    for split, rows in {"train": ["1 707-320", "2 A300B4"], "val": ["3 A300B4"], "test": ["4 707-320"]}.items():
        (tmp_path / f"images_variant_{split}.txt").write_text("\n".join(rows) + "\n")
        for row in rows:
            save(tmp_path / "images" / f"{row.split()[0]}.jpg", "red circle")
    tables = read_fgvc_aircraft(tmp_path)
    assert tables["train"]["label"] == [0, 1] and tables["test"].features["label"].names == ["707-320", "A300B4"]
    (tmp_path / "images_variant_val.txt").write_text("3 A310\n")
    with pytest.raises(ValueError, match="images_variant_val.txt:1: variant 'A310'"):
        read_fgvc_aircraft(tmp_path)


def test_imagenet_classnames_and_folders(tmp_path):
    (tmp_path / "classnames.txt").write_text("n01440764 tench\nn01443537 goldfish\n")
    for folder in ("train", "val"):
        for wnid in ("n01440764", "n01443537"):
            save(tmp_path / "images" / folder / wnid / "a.JPEG", "red circle")
    tables = read_imagenet(tmp_path)
    assert tables["test"].features["label"].names == ["tench", "goldfish"] and tables["test"]["label"] == [0, 1]
    (tmp_path / "classnames.txt").write_text("n01440764\n")
    with pytest.raises(ValueError, match="classnames.txt:1: expected '<wnid> <class name>'"):
        read_imagenet(tmp_path)
