"""ImageNet's domain-generalisation test sets as CoOp reads them: ImageNet-V2, -Sketch, -A and -R.

Each variant folder holds CoOp's ImageNet ``classnames.txt`` (all 1000 ``<wnid> <class name>`` lines, copied from
``imagenet/``) and its images:

- ImageNet-V2 (``imagenetv2/imagenetv2-matched-frequency-format-val/<0..999>/``): folders named by the ImageNet
  class index, i.e. the line number in ``classnames.txt``; 1000 classes.
- ImageNet-Sketch (``imagenet-sketch/images/<wnid>/``): 1000 synset folders.
- ImageNet-A (``imagenet-adversarial/imagenet-a/<wnid>/``) and ImageNet-R (``imagenet-rendition/imagenet-r/<wnid>/``):
  200-class subsets; labels ``0..199`` follow the sorted synset folders and the names come from ``classnames.txt``,
  so a model is evaluated among these 200 names (as CoOp does).

Each reader returns ``{"test": table}`` with ``image``, ``label`` (ClassLabel over the variant's classes) and
``imagenet_label`` (the same class's index among ImageNet's 1000, for evaluating among all 1000 names).
"""

from pathlib import Path

from .coop import image_files, read_imagenet_classnames

# name (CoOp's dataset name) -> (folder under the data root, image folder inside it, folder naming)
IMAGENET_VARIANTS = {
    "imagenetv2": ("imagenetv2", "imagenetv2-matched-frequency-format-val", "index"),
    "imagenet_sketch": ("imagenet-sketch", "images", "wnid"),
    "imagenet_a": ("imagenet-adversarial", "imagenet-a", "wnid"),
    "imagenet_r": ("imagenet-rendition", "imagenet-r", "wnid"),
}


def _variant_table(paths, labels, imagenet_labels, names):
    import datasets

    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=names),
                                  "imagenet_label": datasets.Value("int64")})
    return datasets.Dataset.from_dict({"image": paths, "label": labels, "imagenet_label": imagenet_labels},
                                      features=features)


def read_imagenet_variant(name: str, root) -> dict:
    """``{"test": table}`` of one variant (``name`` a key of :data:`IMAGENET_VARIANTS`) from its folder ``root``."""
    if name not in IMAGENET_VARIANTS:
        raise ValueError(f"unknown ImageNet variant {name!r}; expected one of {sorted(IMAGENET_VARIANTS)}")
    root = Path(root)
    _, image_folder, naming = IMAGENET_VARIANTS[name]
    classnames = read_imagenet_classnames(root / "classnames.txt")
    wnids = list(classnames)
    image_root = root / image_folder
    if not image_root.is_dir():
        raise FileNotFoundError(f"{image_root} not found: {name} keeps its images in <root>/{image_folder}/")
    if naming == "index":  # ImageNet-V2: every class index has a folder
        folders = [str(index) for index in range(len(wnids))]
        imagenet_labels = list(range(len(wnids)))
        missing = [f for f in folders if not (image_root / f).is_dir()]
        if missing:
            raise ValueError(f"{image_root}: {len(missing)} class folder(s) missing, e.g. {missing[0]!r} "
                             f"(expected 0..{len(wnids) - 1}, one per line of classnames.txt)")
    else:
        folders = sorted(p.name for p in image_root.iterdir() if p.is_dir() and not p.name.startswith("."))
        unknown = [f for f in folders if f not in classnames]
        if unknown:
            raise ValueError(f"{image_root}: folder {unknown[0]!r} is not a wnid of {root / 'classnames.txt'}")
        position = {wnid: index for index, wnid in enumerate(wnids)}
        imagenet_labels = [position[f] for f in folders]
    paths, labels, imagenet = [], [], []
    for label, (folder, imagenet_label) in enumerate(zip(folders, imagenet_labels)):
        files = image_files(image_root / folder)
        paths += files
        labels += [label] * len(files)
        imagenet += [imagenet_label] * len(files)
    if not paths:
        raise ValueError(f"no images found under {image_root}")
    names = [classnames[wnids[i]] for i in imagenet_labels]
    return {"test": _variant_table(paths, labels, imagenet, names)}


def read_imagenet_v2(root) -> dict:
    """ImageNet-V2 matched-frequency (folders ``0..999``), see :func:`read_imagenet_variant`."""
    return read_imagenet_variant("imagenetv2", root)


def read_imagenet_sketch(root) -> dict:
    """ImageNet-Sketch (1000 synset folders), see :func:`read_imagenet_variant`."""
    return read_imagenet_variant("imagenet_sketch", root)


def read_imagenet_a(root) -> dict:
    """ImageNet-A (200 synset folders), see :func:`read_imagenet_variant`."""
    return read_imagenet_variant("imagenet_a", root)


def read_imagenet_r(root) -> dict:
    """ImageNet-R (200 synset folders), see :func:`read_imagenet_variant`."""
    return read_imagenet_variant("imagenet_r", root)


__all__ = [
    "IMAGENET_VARIANTS",
    "read_imagenet_a",
    "read_imagenet_r",
    "read_imagenet_sketch",
    "read_imagenet_v2",
    "read_imagenet_variant",
]
