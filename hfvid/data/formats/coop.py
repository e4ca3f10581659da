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


def read_imagenet_classnames(names_file) -> dict:
    """CoOp's ``classnames.txt``: ``{wnid: class name}`` in file order (``<wnid> <class name>`` per line)."""
    names_file = Path(names_file)
    classnames = {}
    for number, line in numbered_lines(names_file, "lines '<wnid> <class name>'"):
        wnid, _, name = line.partition(" ")
        if not name:
            raise ValueError(f"{names_file}:{number}: expected '<wnid> <class name>', got {line!r}")
        classnames[wnid] = name
    return classnames


def image_files(directory) -> list[str]:
    """The image files of one class folder, sorted by name (Dassl lists them in ``os.listdir`` order)."""
    return [str(p) for p in sorted(Path(directory).iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]


def read_imagenet(root) -> dict:
    """ImageNet as CoOp uses it: ``classnames.txt`` order and names, ``{"train", "test"}`` (test = val folder)."""
    root = Path(root)
    names_file = root / "classnames.txt"
    classnames = read_imagenet_classnames(names_file)
    tables = {}
    for split, folder in (("train", "train"), ("test", "val")):
        paths, labels = [], []
        for label, wnid in enumerate(classnames):
            directory = root / "images" / folder / wnid
            if not directory.is_dir():
                raise ValueError(f"{directory} not found: every class of {names_file.name} needs a folder")
            files = image_files(directory)
            paths += files
            labels += [label] * len(files)
        tables[split] = _table(paths, labels, list(classnames.values()))
    return tables


# CoOp's folder layout under one data root ($DATA in its DATASETS.md): folder, image folder, split file.
COOP_DATASETS = {
    "caltech101": ("caltech-101", "101_ObjectCategories", "split_zhou_Caltech101.json"),
    "oxford_pets": ("oxford_pets", "images", "split_zhou_OxfordPets.json"),
    "stanford_cars": ("stanford_cars", "", "split_zhou_StanfordCars.json"),
    "oxford_flowers": ("oxford_flowers", "jpg", "split_zhou_OxfordFlowers.json"),
    "food101": ("food-101", "images", "split_zhou_Food101.json"),
    "fgvc_aircraft": ("fgvc_aircraft", None, None),
    "sun397": ("sun397", "SUN397", "split_zhou_SUN397.json"),
    "dtd": ("dtd", "images", "split_zhou_DescribableTextures.json"),
    "eurosat": ("eurosat", "2750", "split_zhou_EuroSAT.json"),
    "ucf101": ("ucf101", "UCF-101-midframes", "split_zhou_UCF101.json"),
    "imagenet": ("imagenet", None, None),
}


def read_coop_dataset(name: str, data_root) -> dict:
    """One benchmark dataset by CoOp's name from CoOp's layout under ``data_root`` (``{split: table}``).

    Names: the 11 of :data:`COOP_DATASETS` and the ImageNet variants of
    :data:`hfvid.data.formats.imagenet_variants.IMAGENET_VARIANTS` (test only).
    """
    from .imagenet_variants import IMAGENET_VARIANTS, read_imagenet_variant

    data_root = Path(data_root)
    if name in IMAGENET_VARIANTS:
        return read_imagenet_variant(name, data_root / IMAGENET_VARIANTS[name][0])
    if name not in COOP_DATASETS:
        known = sorted(COOP_DATASETS) + sorted(IMAGENET_VARIANTS)
        raise ValueError(f"unknown CoOp dataset {name!r}; expected one of {known}")
    folder, image_dir, split_file = COOP_DATASETS[name]
    root = data_root / folder
    if name == "imagenet":
        return read_imagenet(root)
    if name == "fgvc_aircraft":
        return read_fgvc_aircraft(root)
    return read_coop_split(root / split_file, root / image_dir)


__all__ = [
    "COOP_DATASETS",
    "image_files",
    "read_coop_dataset",
    "read_coop_split",
    "read_fgvc_aircraft",
    "read_imagenet",
    "read_imagenet_classnames",
]
