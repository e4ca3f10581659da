"""COFW (29 landmarks, Burgos-Artizzu et al. 2013): ``COFW_train_color.mat`` and ``COFW_test_color.mat``.

Train file: ``IsTr`` (cell array of images, H x W x 3 uint8 or H x W grayscale), ``phisTr`` (N x 87: 29 x, 29 y,
29 occlusion flags) and ``bboxesTr`` (N x 4: x, y, width, height); test file: ``IsT``, ``phisT``, ``bboxesT``
(507 faces). Coordinates are MATLAB 1-based and are made 0-based here (subtract 1) [reading]. The NME normaliser is
the distance between points 8 and 9 (0-based), HRNet's convention. Read with ``scipy.io.loadmat`` (no pickle); the
MATLAB v7.3 (HDF5) copies some mirrors distribute need converting to v5 first (scipy cannot read v7.3).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

NUM_POINTS = 29
INTEROCULAR_29 = (8, 9)
_KEYS = {"train": ("IsTr", "phisTr", "bboxesTr"), "test": ("IsT", "phisT", "bboxesT")}


def _as_rgb(image, where: str) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{where}: expected an H x W or H x W x 3 image, got shape {image.shape}")
    return np.ascontiguousarray(image.astype(np.uint8))


def read_cofw_mat(path, split: str | None = None) -> list[dict]:
    """A COFW ``.mat`` -> records ``{"image" (H, W, 3) uint8, "landmarks" (29, 2) float32 (0-based),
    "occluded" (29,) bool, "box" xyxy float32 (the annotated box)}``.

    ``split`` ("train" / "test") picks the variable names; by default whichever set the file holds.
    """
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    path = Path(path)
    try:
        data = loadmat(str(path))
    except NotImplementedError:
        raise ValueError(f"{path}: MATLAB v7.3 (HDF5) file; expected a v5 .mat readable by scipy.io.loadmat "
                         "(re-save it in MATLAB/Octave with -v7 or convert with h5py)") from None
    except (MatReadError, ValueError, OSError) as error:
        raise ValueError(f"{path}: expected a COFW .mat file ({error})") from None
    splits = [split] if split else [s for s, keys in _KEYS.items() if keys[0] in data]
    if split and split not in _KEYS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if not splits or any(k not in data for k in _KEYS[splits[0]]):
        raise ValueError(f"{path}: expected the COFW variables {_KEYS['train']} or {_KEYS['test']}, found "
                         f"{sorted(k for k in data if not k.startswith('__'))}")
    image_key, phis_key, box_key = _KEYS[splits[0]]
    images = np.asarray(data[image_key], dtype=object).reshape(-1)
    phis = np.asarray(data[phis_key], np.float64)
    boxes = np.asarray(data[box_key], np.float64)
    if phis.ndim != 2 or phis.shape[1] != 3 * NUM_POINTS:
        raise ValueError(f"{path}: expected {phis_key} of shape (N, 87) (29 x, 29 y, 29 occlusion), got {phis.shape}")
    if boxes.shape != (len(phis), 4) or len(images) != len(phis):
        raise ValueError(f"{path}: expected {len(phis)} images in {image_key} and a ({len(phis)}, 4) {box_key}, got "
                         f"{len(images)} and {boxes.shape}")
    records = []
    for index, (image, phi, box) in enumerate(zip(images, phis, boxes)):
        points = np.stack([phi[:NUM_POINTS], phi[NUM_POINTS:2 * NUM_POINTS]], 1) - 1.0
        x, y, w, h = box
        if w <= 0 or h <= 0:
            raise ValueError(f"{path}: {box_key}[{index}]: expected width and height > 0, got {box.tolist()}")
        records.append({"image": _as_rgb(image, f"{path}: {image_key}[{index}]"),
                        "landmarks": points.astype(np.float32), "occluded": phi[2 * NUM_POINTS:] > 0,
                        "box": np.array([x - 1, y - 1, x - 1 + w, y - 1 + h], np.float32)})
    return records


def load_cofw(root) -> dict[str, list[dict]]:
    """``{"train": ..., "test": ...}`` from ``root/COFW_train_color.mat`` and ``root/COFW_test_color.mat``."""
    root = Path(root)
    files = {"train": root / "COFW_train_color.mat", "test": root / "COFW_test_color.mat"}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise ValueError(f"{root}: expected COFW_train_color.mat and COFW_test_color.mat; missing {missing}")
    return {split: read_cofw_mat(path, split) for split, path in files.items()}


def write_cofw_mat(path, records, split: str = "train") -> Path:
    """Write records (``image``, 0-based ``landmarks`` (29, 2), optional ``occluded``, ``box`` xyxy) as a COFW
    ``.mat`` with ``scipy.io.savemat`` (1-based, for tests and subsets)."""
    from scipy.io import savemat

    image_key, phis_key, box_key = _KEYS[split]
    images = np.empty((len(records), 1), dtype=object)
    phis, boxes = [], []
    for index, record in enumerate(records):
        images[index, 0] = np.asarray(record["image"], np.uint8)
        points = np.asarray(record["landmarks"], np.float64) + 1.0
        occluded = np.asarray(record.get("occluded", np.zeros(NUM_POINTS)), np.float64)
        phis.append(np.concatenate([points[:, 0], points[:, 1], occluded]))
        x1, y1, x2, y2 = record["box"]
        boxes.append([x1 + 1, y1 + 1, x2 - x1, y2 - y1])
    savemat(str(path), {image_key: images, phis_key: np.array(phis), box_key: np.array(boxes, np.float64)})
    return Path(path)


__all__ = ["INTEROCULAR_29", "NUM_POINTS", "load_cofw", "read_cofw_mat", "write_cofw_mat"]
