"""AFLW landmark lists in the HRNet-Facial-Landmark-Detection CSV layout (the SAN/HRNet split most papers use).

Files: ``face_landmarks_aflw_train.csv`` (20,000 faces), ``face_landmarks_aflw_test.csv`` (4,386, "AFLW-full") and
``face_landmarks_aflw_test_frontal.csv`` (1,314). One header line, then per face::

    image_name, scale, box_size, center_w, center_h, x1, y1, x2, y2, ...

``image_name`` is relative to the image root (``flickr/``), ``box_size`` is the side of the square face box centred
at ``(center_w, center_h)`` (the "NME_box" normaliser) and ``scale = box_size / 200``. Coordinates are used as given
[reading]. 19 points (the 21 AFLW points without the ear lobes, mirror table ``aflw19``) or the full 21 (``aflw21``)
are accepted; the count comes from the number of columns. The ``AFLWinfo_release.mat`` copy of the same split is
read by :mod:`hfvid.data.formats.aflw`.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

POINT_COUNTS = (19, 21)
FIELDS = ("image_name", "scale", "box_size", "center_w", "center_h")


def read_aflw_csv(csv_file, image_root, check_images: bool = True) -> list[dict]:
    """Records ``{"image": path, "landmarks" (N, 2) float32, "box" [x1, y1, x2, y2], "box_size"}``, N = 19 or 21.

    Errors name ``file:line``; listed images missing under ``image_root`` raise ``ValueError`` unless
    ``check_images`` is off.
    """
    csv_file, image_root = Path(csv_file), Path(image_root)
    if not csv_file.is_file():
        raise ValueError(f"csv_file {csv_file} not found (expected e.g. face_landmarks_aflw_train.csv)")
    if check_images and not image_root.is_dir():
        raise ValueError(f"image_root {image_root} is not a folder (expected AFLW's flickr/ image root)")
    records, num_points = [], None
    with open(csv_file, newline="", encoding="utf-8") as handle:
        for line_no, row in enumerate(csv.reader(handle), start=1):
            row = [field.strip() for field in row]
            if not any(row):
                continue
            where = f"{csv_file}:{line_no}"
            if line_no == 1 and not _is_number(row[1] if len(row) > 1 else ""):
                continue  # header
            points = (len(row) - len(FIELDS)) / 2
            if points not in POINT_COUNTS:
                raise ValueError(f"{where}: expected {len(FIELDS)} fields {FIELDS} then 19 or 21 x, y pairs "
                                 f"({len(FIELDS) + 38} or {len(FIELDS) + 42} columns), got {len(row)} columns")
            if num_points is not None and points != num_points:
                raise ValueError(f"{where}: {int(points)} points, but earlier lines have {num_points}")
            num_points = int(points)
            try:
                values = np.asarray([float(v) for v in row[1:]], np.float64)
            except ValueError:
                raise ValueError(f"{where}: expected numbers after the image name, got {row[1:6]}...") from None
            _, box_size, cx, cy = values[:4]
            if box_size <= 0:
                raise ValueError(f"{where}: expected box_size > 0, got {box_size}")
            path = image_root / row[0]
            if check_images and not path.is_file():
                raise ValueError(f"{where}: image {row[0]!r} is not in {image_root}")
            half = box_size / 2
            records.append({"image": str(path), "landmarks": values[4:].reshape(-1, 2).astype(np.float32),
                            "box": [cx - half, cy - half, cx + half, cy + half], "box_size": float(box_size)})
    if not records:
        raise ValueError(f"{csv_file}: no face lines")
    return records


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def write_aflw_csv(path, names, landmarks, boxes) -> Path:
    """Write faces (``boxes`` xyxy squares, ``landmarks`` (M, N, 2)) as an HRNet AFLW CSV with its header."""
    points = np.asarray(landmarks, np.float64)
    if points.ndim != 3 or points.shape[1] not in POINT_COUNTS or points.shape[2] != 2:
        raise ValueError(f"landmarks must have shape (M, 19 or 21, 2), got {points.shape}")
    header = list(FIELDS) + [f"{axis}{i + 1}" for i in range(points.shape[1]) for axis in "xy"]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for name, pts, (x1, y1, x2, y2) in zip(names, points, np.asarray(boxes, np.float64)):
            size = x2 - x1
            writer.writerow([name, size / 200, size, (x1 + x2) / 2, (y1 + y2) / 2, *pts.reshape(-1).tolist()])
    return Path(path)


__all__ = ["FIELDS", "POINT_COUNTS", "read_aflw_csv", "write_aflw_csv"]
