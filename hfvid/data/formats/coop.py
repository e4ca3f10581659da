"""CoOp/CoCoOp few-shot benchmark splits (Zhou et al.), the data protocol of prompt learning on CLIP.

- ``split_zhou_<Dataset>.json``: ``{"train": [[relative image path, label, class name], ...], "val": [...],
  "test": [...]}`` (Caltech101, OxfordPets, StanfordCars, Flowers102, Food101, SUN397, DTD, EuroSAT, UCF101).
- FGVC-Aircraft: ``variants.txt`` (one class name per line, the label order) and
  ``images_variant_{train,val,test}.txt`` (``<image id> <variant>`` per line), images in ``images/<id>.jpg``.
- ImageNet: ``classnames.txt`` (``<wnid> <class name>`` per line) and ``images/{train,val}/<wnid>/<image>``;
  val is the test split.

Each reader returns ``{split: datasets.Dataset}`` with an ``image`` column (decoded lazily from the file) and a
``label`` ClassLabel column whose names are the benchmark's class names, ready for ``hfvid.data.few_shot``.
"""

import json
from pathlib import Path

from .text_lines import numbered_lines

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def _table(paths: list[str], labels: list[int], names: list[str]):
    import datasets

    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=names)})
    return datasets.Dataset.from_dict({"image": paths, "label": labels}, features=features)


def _check_files(paths: list[str], source) -> None:
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise ValueError(f"{len(missing)} image(s) listed in {source} do not exist, e.g. {missing[0]}")


def read_coop_split(split_file, image_root) -> dict:
    """``split_zhou_*.json`` -> ``{"train", "val", "test"}`` tables; paths are relative to ``image_root``.

    Class names come from the file (the label -> name pairs must agree across items and splits, and labels must be
    ``0..n-1``); every image must exist.
    """
    split_file, image_root = Path(split_file), Path(image_root)
    try:
        splits = json.loads(split_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{split_file} is not JSON: {error}") from None
    if not isinstance(splits, dict) or not {"train", "test"} <= set(splits):
        raise ValueError(f'{split_file}: expected {{"train": [...], "val": [...], "test": [...]}}')
    names: dict[int, str] = {}
    rows = {}
    for split, items in splits.items():
        rows[split] = []
        for index, item in enumerate(items):
            if not (isinstance(item, list) and len(item) == 3 and isinstance(item[1], int) and isinstance(item[2], str)):
                raise ValueError(f"{split_file}: {split}[{index}] must be [image path, int label, class name], "
                                 f"got {item!r}")
            path, label, name = item
            if names.setdefault(label, name) != name:
                raise ValueError(f"{split_file}: label {label} is named both {names[label]!r} and {name!r}")
            rows[split].append((str(image_root / path), label))
    if sorted(names) != list(range(len(names))):
        raise ValueError(f"{split_file}: labels must be 0..{len(names) - 1}, got {sorted(names)[:10]}...")
    class_names = [names[i] for i in range(len(names))]
    tables = {}
    for split, items in rows.items():
        paths, labels = [p for p, _ in items], [lab for _, lab in items]
        _check_files(paths, split_file)
        tables[split] = _table(paths, labels, class_names)
    return tables


def read_fgvc_aircraft(root) -> dict:
    """FGVC-Aircraft as CoOp uses it: 100 variants, ``{"train", "val", "test"}`` from ``images_variant_*.txt``."""
    root = Path(root)
    variants_file = root / "variants.txt"
    class_names = [line for _, line in numbered_lines(variants_file, "one variant name per line")]
    label_of = {name: i for i, name in enumerate(class_names)}
    tables = {}
    for split in ("train", "val", "test"):
        list_file = root / f"images_variant_{split}.txt"
        paths, labels = [], []
        for number, line in numbered_lines(list_file, "lines '<image id> <variant>'"):
            image_id, _, variant = line.partition(" ")
            if variant not in label_of:
                raise ValueError(f"{list_file}:{number}: variant {variant!r} is not in {variants_file.name}")
            paths.append(str(root / "images" / f"{image_id}.jpg"))
            labels.append(label_of[variant])
        _check_files(paths, list_file)
        tables[split] = _table(paths, labels, class_names)
    return tables


def read_imagenet(root) -> dict:
    """ImageNet as CoOp uses it: ``classnames.txt`` order and names, ``{"train", "test"}`` (test = val folder)."""
    root = Path(root)
    names_file = root / "classnames.txt"
    wnids, class_names = [], []
    for number, line in numbered_lines(names_file, "lines '<wnid> <class name>'"):
        wnid, _, name = line.partition(" ")
        if not name:
            raise ValueError(f"{names_file}:{number}: expected '<wnid> <class name>', got {line!r}")
        wnids.append(wnid)
        class_names.append(name)
    tables = {}
    for split, folder in (("train", "train"), ("test", "val")):
        paths, labels = [], []
        for label, wnid in enumerate(wnids):
            directory = root / "images" / folder / wnid
            if not directory.is_dir():
                raise ValueError(f"{directory} not found: every class of {names_file.name} needs a folder")
            files = sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            paths += [str(p) for p in files]
            labels += [label] * len(files)
        tables[split] = _table(paths, labels, class_names)
    return tables


__all__ = ["read_coop_split", "read_fgvc_aircraft", "read_imagenet"]
