"""AFLW with the 19-point annotation file commonly distributed with it (``AFLWinfo_release.mat``).

The file (MATLAB v5, read with ``scipy.io.loadmat``, no pickle) holds, for its 24,386 faces:

* ``data`` (N x 38): ``x1 .. x19`` then ``y1 .. y19`` in image pixels (used as given);
* ``bbox`` (N x 4): ``x1 x2 y1 y2`` (note the order: left, right, top, bottom);
* ``mask_new`` (N x 19): 1 where the point is visible;
* ``nameList`` (N x 1 cell): image paths relative to the image root (``flickr/``), e.g. ``3/image00035.jpg``;
* ``ra`` (1 x N): a 1-based permutation of the faces; its first 20,000 entries are the usual training split and
  the remaining 4,386 the test split ("AFLW-full"); the "frontal" test subset is the test faces with all 19
  points visible.

The original release's 21-point annotation (``aflw.sqlite``: tables ``Faces``, ``FaceImages``, ``FaceRect``,
``FeatureCoords`` with ``feature_id`` 1..21; points not annotated have no row) is read by :func:`read_aflw_sqlite`
(``sqlite3``, read-only); it defines no train/test split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

NUM_POINTS = 19
NUM_POINTS_SQLITE = 21
NUM_TRAIN = 20_000
SPLITS = ("train", "test", "test_frontal", "all")


def read_aflw_info(path) -> list[dict]:
    """``AFLWinfo_release.mat`` -> one record per face, in ``ra`` order: ``{"name", "landmarks" (19, 2) float32,
    "visible" (19,) bool, "box" [x1, y1, x2, y2], "split" ("train" | "test")}``."""
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} not found (expected AFLWinfo_release.mat)")
    try:
        info = loadmat(str(path))
    except (MatReadError, ValueError, NotImplementedError, OSError) as error:
        raise ValueError(f"{path}: expected a MATLAB v5 .mat file readable by scipy.io.loadmat ({error})") from None
    missing = [key for key in ("data", "bbox", "mask_new", "nameList", "ra") if key not in info]
    if missing:
        raise ValueError(f"{path}: expected the fields data, bbox, mask_new, nameList and ra; missing {missing}")
    data, bbox = np.asarray(info["data"], np.float64), np.asarray(info["bbox"], np.float64)
    mask, names = np.asarray(info["mask_new"]), info["nameList"].reshape(-1)
    count = len(data)
    for key, array, shape in (("data", data, (count, 2 * NUM_POINTS)), ("bbox", bbox, (count, 4)),
                              ("mask_new", mask, (count, NUM_POINTS)), ("nameList", names, (count,))):
        if array.shape != shape:
            raise ValueError(f"{path}: expected {key} of shape {shape}, got {array.shape}")
    order = np.asarray(info["ra"]).reshape(-1).astype(np.int64) - 1
    if sorted(order.tolist()) != list(range(count)):
        raise ValueError(f"{path}: expected ra to be a 1-based permutation of the {count} faces")
    records = []
    for position, index in enumerate(order):
        name = names[index]
        name = str(name.reshape(-1)[0]) if isinstance(name, np.ndarray) else str(name)
        x1, x2, y1, y2 = bbox[index].tolist()
        if x2 <= x1 or y2 <= y1:
            raise ValueError(f"{path}: face {index + 1} ({name}) has a bad bbox [x1 x2 y1 y2] = {bbox[index].tolist()}")
        landmarks = np.stack([data[index, :NUM_POINTS], data[index, NUM_POINTS:]], axis=1).astype(np.float32)
        records.append({"name": name, "landmarks": landmarks, "visible": mask[index].astype(bool),
                        "box": [x1, y1, x2, y2], "split": "train" if position < NUM_TRAIN else "test"})
    return records


def read_aflw_sqlite(path) -> list[dict]:
    """``aflw.sqlite`` -> one record per face with a rectangle, by ``face_id``: ``{"name": file path under flickr/,
    "landmarks" (21, 2) float32 (NaN where the point is not annotated), "visible" (21,) bool, "box" [x1, y1, x2,
    y2] from ``FaceRect`` x, y, w, h}``."""
    import sqlite3

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} not found (expected AFLW's aflw.sqlite)")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            faces = connection.execute(
                "SELECT Faces.face_id, FaceImages.filepath, FaceRect.x, FaceRect.y, FaceRect.w, FaceRect.h FROM Faces "
                "JOIN FaceImages ON Faces.file_id = FaceImages.file_id "
                "JOIN FaceRect ON Faces.face_id = FaceRect.face_id ORDER BY Faces.face_id").fetchall()
            coords = connection.execute("SELECT face_id, feature_id, x, y FROM FeatureCoords").fetchall()
    except sqlite3.DatabaseError as error:
        raise ValueError(f"{path}: expected the AFLW SQLite database with tables Faces, FaceImages, FaceRect and "
                         f"FeatureCoords ({error})") from None
    points = {}
    for face_id, feature_id, x, y in coords:
        if not 1 <= feature_id <= NUM_POINTS_SQLITE:
            raise ValueError(f"{path}: face {face_id} has feature_id {feature_id}, expected 1..{NUM_POINTS_SQLITE}")
        points.setdefault(face_id, np.full((NUM_POINTS_SQLITE, 2), np.nan, np.float32))[feature_id - 1] = (x, y)
    records = []
    for face_id, filepath, x, y, width, height in faces:
        if width <= 0 or height <= 0:
            raise ValueError(f"{path}: face {face_id} ({filepath}) has a rectangle of size {width} x {height}")
        landmarks = points.get(face_id, np.full((NUM_POINTS_SQLITE, 2), np.nan, np.float32))
        records.append({"name": filepath, "landmarks": landmarks, "visible": np.isfinite(landmarks).all(1),
                        "box": [float(x), float(y), float(x + width), float(y + height)]})
    return records


def load_aflw(image_dir, info_file, split: str = "train") -> list[dict]:
    """Records ``{"image": path, "landmarks" (19, 2), "visible", "box"}`` of one split (``"train"``, ``"test"``,
    ``"test_frontal"``: test faces with all 19 points visible, or ``"all"``). Missing images raise ``ValueError``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise ValueError(f"image_dir {image_dir} is not a folder (expected AFLW's flickr/ image root)")
    records = []
    for face in read_aflw_info(info_file):
        wanted = split == "all" or face["split"] == split.removesuffix("_frontal")
        if not wanted or (split == "test_frontal" and not face["visible"].all()):
            continue
        path = image_dir / face["name"]
        if not path.is_file():
            raise ValueError(f"image {face['name']!r} listed in {info_file} is not in {image_dir}")
        records.append({"image": str(path), "landmarks": face["landmarks"], "visible": face["visible"],
                        "box": face["box"]})
    return records


def write_aflw_info(path, names, landmarks, boxes, visible=None, order=None) -> Path:
    """Write an ``AFLWinfo_release.mat``-style file (``boxes`` xyxy; ``order`` 0-based, default identity)."""
    from scipy.io import savemat

    points = np.asarray(landmarks, np.float64)
    if points.ndim != 3 or points.shape[1:] != (NUM_POINTS, 2):
        raise ValueError(f"landmarks must have shape (N, {NUM_POINTS}, 2), got {points.shape}")
    count = len(points)
    boxes = np.asarray(boxes, np.float64).reshape(count, 4)
    cells = np.empty((count, 1), dtype=object)
    for i, name in enumerate(names):
        cells[i, 0] = np.array([name])
    savemat(str(path), {
        "data": np.concatenate([points[:, :, 0], points[:, :, 1]], axis=1),
        "bbox": boxes[:, [0, 2, 1, 3]],
        "mask_new": np.ones((count, NUM_POINTS)) if visible is None else np.asarray(visible, np.float64),
        "nameList": cells,
        "ra": (np.arange(count) if order is None else np.asarray(order)).reshape(1, -1) + 1.0,
    })
    return Path(path)


__all__ = ["NUM_POINTS", "NUM_POINTS_SQLITE", "NUM_TRAIN", "SPLITS", "load_aflw", "read_aflw_info",
           "read_aflw_sqlite", "write_aflw_info"]
