"""A folder of images with an optional JSON of boxes and landmarks: the format for any dataset without a native
reader (Keypoints-to-Landmarks takes any image folder + boxes, spec section 9).

``{"<file name>": {"box": [x1, y1, x2, y2], "landmarks": [[x, y], ...]}}``; both keys are optional per image (no
box: the whole image). Landmarks are used as given, in image pixels.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def read_landmark_json(path) -> dict:
    """The JSON file -> validated dict; bad boxes, missing points or unequal point counts raise ``ValueError``."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} not found (expected a JSON file {{image: {{'box': [4], 'landmarks': [[x, y]]}}}})")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object mapping image file names to annotations")
    sizes = set()
    for name, entry in data.items():
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: image {name!r} maps to {type(entry).__name__}, expected an object")
        box = entry.get("box")
        if box is not None and (len(box) != 4 or not (box[2] > box[0] and box[3] > box[1])):
            raise ValueError(f"{path}: image {name!r} has a bad box {box} (need x1 < x2, y1 < y2)")
        if entry.get("landmarks") is not None:
            points = np.asarray([[np.nan if v is None else v for v in p] for p in entry["landmarks"]], np.float64)
            if points.ndim != 2 or points.shape[1] != 2 or not np.isfinite(points).all():
                raise ValueError(f"{path}: image {name!r} has missing or malformed landmark points; every annotated "
                                 "image needs all points as [x, y] numbers")
            sizes.add(len(points))
    if len(sizes) > 1:
        raise ValueError(f"{path}: images have different numbers of landmarks {sorted(sizes)}")
    return data


def whole_image_box(path) -> list[float]:
    """``[0, 0, width - 1, height - 1]`` of an image file (reads the header only)."""
    from PIL import Image

    with Image.open(path) as image:
        return [0.0, 0.0, image.width - 1.0, image.height - 1.0]


def with_boxes(records: list[dict]) -> list[dict]:
    """The records, each with a ``box``: the whole image where a record has none."""
    return [record if record.get("box") is not None else dict(record, box=whole_image_box(record["image"]))
            for record in records]


def load_image_folder(folder, annotations=None, limit: int | None = None) -> list[dict]:
    """Records ``{"image": path, "box", optional "landmarks" (L, 2) float32}`` of the annotated images (all images
    of ``folder`` when there is no JSON), sorted by name, at most ``limit``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"image folder {folder} does not exist")
    entries = read_landmark_json(annotations) if annotations else {}
    names = sorted(entries) if entries else sorted(p.name for p in folder.iterdir()
                                                   if p.suffix.lower() in IMAGE_SUFFIXES)
    records = []
    for name in names[:limit] if limit else names:
        path = folder / name
        if not path.is_file():
            raise ValueError(f"annotated image {path} does not exist")
        entry = entries.get(name, {})
        record = {"image": str(path), "box": entry.get("box")}
        if entry.get("landmarks") is not None:
            record["landmarks"] = np.asarray(entry["landmarks"], np.float32)
        records.append(record)
    return with_boxes(records)


__all__ = ["IMAGE_SUFFIXES", "load_image_folder", "read_landmark_json", "whole_image_box", "with_boxes"]
