"""CelebA annotation lists and the MAFL split, as distributed with the datasets.

* ``list_landmarks_align_celeba.txt`` (aligned 178 x 218 images) and ``list_landmarks_celeba.txt`` (in-the-wild
  images), same layout: a count line, a header line ``lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y
  leftmouth_x leftmouth_y rightmouth_x rightmouth_y``, then ``<image> <10 ints>`` per image. Points are returned as
  ``(5, 2)`` float32 pixel coordinates, as given (the files do not document a 0/1 base).
* ``list_bbox_celeba.txt``: a count line, the header ``image_id x_1 y_1 width height``, then one box per image
  (in-the-wild images only; returned as xyxy).
* ``list_eval_partition.txt``: ``<image> <0|1|2>`` (train / validation / test).
* MAFL ``training.txt`` / ``testing.txt`` (19,000 / 1,000 CelebA image names, one per line).

:func:`load_celeba_landmarks` joins them into records for the Keypoints-to-Landmarks protocol: the unsupervised
training set is the CelebA train partition minus the MAFL test images (spec pitfall 8: no evaluation leakage), the
landmark regressor is fitted on MAFL training and tested on MAFL testing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .text_lines import numbered_lines

POINT_NAMES = ("left_eye", "right_eye", "nose", "left_mouth", "right_mouth")
EYE_INDICES = (0, 1)  # inter-ocular normaliser of the MAFL protocol
PARTITIONS = {"train": 0, "validation": 1, "test": 2}
SPLITS = ("train", "validation", "test", "mafl_train", "mafl_test", "all")


def _counted_table(path, width: int, header_start: str, expected: str) -> dict[str, list[str]]:
    """``{image: fields}`` of a CelebA list: count line, header line starting with ``header_start``, rows."""
    lines = numbered_lines(path, expected)
    try:
        number, count_text = next(lines)
        header_number, header = next(lines)
    except StopIteration:
        raise ValueError(f"{path}: expected a count line and a header line ({expected}), "
                         "the file is too short") from None
    try:
        count = int(count_text)
    except ValueError:
        raise ValueError(f"{path}:{number}: expected the number of images on the first line, "
                         f"got {count_text!r}") from None
    if not header.split() or header.split()[0] != header_start:
        raise ValueError(f"{path}:{header_number}: expected the header line starting with {header_start!r}, "
                         f"got {header!r}")
    rows = {}
    for number, line in lines:
        fields = line.split()
        if len(fields) != width + 1:
            raise ValueError(f"{path}:{number}: expected an image name and {width} numbers, got {len(fields)} fields")
        if fields[0] in rows:
            raise ValueError(f"{path}:{number}: image {fields[0]!r} appears twice")
        rows[fields[0]] = fields[1:]
    if len(rows) != count:
        raise ValueError(f"{path}: the first line says {count} images but {len(rows)} rows were read")
    return rows


def _numbers(path, fields: list[str], name: str) -> np.ndarray:
    try:
        return np.asarray([float(v) for v in fields], np.float32)
    except ValueError:
        raise ValueError(f"{path}: image {name!r} has a non-numeric value in {fields}") from None


def read_celeba_landmarks(path) -> dict[str, np.ndarray]:
    """``list_landmarks_[align_]celeba.txt`` -> ``{image name: (5, 2) float32}`` (points in :data:`POINT_NAMES`)."""
    rows = _counted_table(path, 10, "lefteye_x", "CelebA 5-point landmarks: count, header, '<image> 10 numbers'")
    return {name: _numbers(path, fields, name).reshape(5, 2) for name, fields in rows.items()}


def read_celeba_boxes(path) -> dict[str, list[float]]:
    """``list_bbox_celeba.txt`` -> ``{image name: [x1, y1, x2, y2]}`` (from ``x_1 y_1 width height``)."""
    rows = _counted_table(path, 4, "image_id", "CelebA boxes: count, header 'image_id x_1 y_1 width height', rows")
    boxes = {}
    for name, fields in rows.items():
        x, y, width, height = _numbers(path, fields, name).tolist()
        if width <= 0 or height <= 0:
            raise ValueError(f"{path}: image {name!r} has a box of width {width} and height {height}; need > 0")
        boxes[name] = [x, y, x + width, y + height]
    return boxes


def read_celeba_partition(path) -> dict[str, int]:
    """``list_eval_partition.txt`` -> ``{image name: 0 (train) | 1 (validation) | 2 (test)}``."""
    partition = {}
    for number, line in numbered_lines(path, "CelebA partition: '<image> <0|1|2>' per line"):
        fields = line.split()
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise ValueError(f"{path}:{number}: expected '<image> <0|1|2>', got {line!r}")
        partition[fields[0]] = int(fields[1])
    return partition


def read_image_list(path) -> list[str]:
    """A MAFL ``training.txt`` / ``testing.txt``: one image name per line, in file order."""
    names = []
    for number, line in numbered_lines(path, "an image list: one image name per line"):
        if len(line.split()) != 1:
            raise ValueError(f"{path}:{number}: expected one image name per line, got {line!r}")
        names.append(line)
    return names


def load_celeba_landmarks(image_dir, landmarks_file, split: str = "all", partition_file=None,
                          mafl_train_file=None, mafl_test_file=None, bbox_file=None) -> list[dict]:
    """Records ``{"image": path, "landmarks" (5, 2), optional "box"}`` of one split, sorted by name.

    ``split``: ``"train"``/``"validation"``/``"test"`` (CelebA partition, needs ``partition_file``; ``"train"`` drops
    the MAFL test images when ``mafl_test_file`` is given), ``"mafl_train"``/``"mafl_test"`` (the MAFL lists), or
    ``"all"`` (every annotated image). ``bbox_file`` adds the in-the-wild boxes (not for the aligned images).
    Listed images missing from the landmark file or from ``image_dir`` raise ``ValueError``.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise ValueError(f"image_dir {image_dir} is not a folder (expected CelebA's img_align_celeba/ or img_celeba/)")
    landmarks = read_celeba_landmarks(landmarks_file)
    if split.startswith("mafl_"):
        list_file = mafl_train_file if split == "mafl_train" else mafl_test_file
        if list_file is None:
            which = "training" if split == "mafl_train" else "testing"
            raise ValueError(f"split={split!r} needs the MAFL list file ({which}.txt)")
        names = read_image_list(list_file)
    elif split == "all":
        names = sorted(landmarks)
    else:
        if partition_file is None:
            raise ValueError(f"split={split!r} needs partition_file (list_eval_partition.txt)")
        partition = read_celeba_partition(partition_file)
        names = sorted(name for name, part in partition.items() if part == PARTITIONS[split])
        if split == "train" and mafl_test_file is not None:
            held_out = set(read_image_list(mafl_test_file))
            names = [name for name in names if name not in held_out]
    boxes = read_celeba_boxes(bbox_file) if bbox_file is not None else {}
    records = []
    for name in names:
        if name not in landmarks:
            raise ValueError(f"image {name!r} of split {split!r} has no row in {landmarks_file}")
        path = image_dir / name
        if not path.is_file():
            raise ValueError(f"image {name!r} of split {split!r} is not in {image_dir}")
        record = {"image": str(path), "landmarks": landmarks[name]}
        if bbox_file is not None:
            if name not in boxes:
                raise ValueError(f"image {name!r} has no box in {bbox_file}")
            record["box"] = boxes[name]
        records.append(record)
    return records


def write_celeba_landmarks(path, landmarks: dict) -> Path:
    """Write ``{image: (5, 2)}`` in the ``list_landmarks_align_celeba.txt`` layout (integers, as the release)."""
    header = " ".join(f"{name.replace('_', '')}_{axis}" for name in POINT_NAMES for axis in "xy")
    lines = [str(len(landmarks)), header]
    for name, points in landmarks.items():
        values = np.asarray(points, np.float64).reshape(-1)
        if values.size != 10:
            raise ValueError(f"landmarks of {name!r} must have 5 (x, y) points, got {values.size} values")
        lines.append(name + " " + " ".join(str(int(round(v))) for v in values))
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Path(path)


__all__ = [
    "EYE_INDICES",
    "POINT_NAMES",
    "load_celeba_landmarks",
    "read_celeba_boxes",
    "read_celeba_landmarks",
    "read_celeba_partition",
    "read_image_list",
    "write_celeba_landmarks",
]
