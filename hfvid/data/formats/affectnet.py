"""AffectNet annotation CSVs (``training.csv`` / ``validation.csv``).

Header ``subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal``;
one face per row: the image path relative to the image root (``Manually_Annotated_Images``), the face box as
``x, y, width, height`` in pixels, 68 landmarks as ``"x1;y1;x2;y2;...;x68;y68"`` (136 numbers, used as 0-based
pixels as given), the expression 0-10 (:data:`EXPRESSION_NAMES`: 0-7 are the 8 emotion classes, 8 None,
9 Uncertain, 10 No-Face) and valence/arousal in [-1, 1] (-2 marks invalid). The usual protocol keeps classes 0-7
and evaluates on the balanced validation set (500 per class).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

COLUMNS = ("subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "facial_landmarks",
           "expression", "valence", "arousal")
EXPRESSION_NAMES = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt", "none",
                    "uncertain", "no_face")
NUM_EMOTIONS = 8  # classes 0-7 are the emotions used by the 8-class protocol


def _row(row: dict, where: str) -> dict:
    try:
        x, y, w, h = (float(row[k]) for k in ("face_x", "face_y", "face_width", "face_height"))
    except ValueError:
        raise ValueError(f"{where}: expected numeric face_x, face_y, face_width, face_height") from None
    if w <= 0 or h <= 0:
        raise ValueError(f"{where}: expected face_width and face_height > 0, got {w} and {h}")
    text = (row["facial_landmarks"] or "").strip()
    landmarks = None
    if text:
        try:
            values = [float(v) for v in text.split(";") if v.strip()]
        except ValueError:
            raise ValueError(f"{where}: expected facial_landmarks as 136 numbers 'x1;y1;...;x68;y68'") from None
        if len(values) != 136:
            raise ValueError(f"{where}: expected 136 numbers (68 x, y pairs) in facial_landmarks, got {len(values)}")
        landmarks = np.asarray(values, np.float32).reshape(68, 2)
    try:
        expression = int(row["expression"])
        valence, arousal = float(row["valence"]), float(row["arousal"])
    except ValueError:
        raise ValueError(f"{where}: expected an integer expression (0-10) and numeric valence, arousal") from None
    if not 0 <= expression < len(EXPRESSION_NAMES):
        raise ValueError(f"{where}: expected expression in 0-10, got {expression}")
    for name, value in (("valence", valence), ("arousal", arousal)):
        if value != -2 and not (-1 <= value <= 1 and math.isfinite(value)):
            raise ValueError(f"{where}: expected {name} in [-1, 1] (or -2 = invalid), got {value}")
    return {"relative_path": row["subDirectory_filePath"], "box": [x, y, x + w, y + h], "landmarks": landmarks,
            "expression": expression, "valence": valence, "arousal": arousal}


def read_affectnet_csv(csv_path, image_root=None, num_classes: int = NUM_EMOTIONS,
                       drop_invalid_valence_arousal: bool = False) -> list[dict]:
    """Rows of an AffectNet CSV as records.

    Each record: ``image_path`` (``image_root / subDirectory_filePath``; the image is not opened), ``box`` (xyxy),
    ``landmarks`` ((68, 2) float32 or None), ``label`` (expression id), ``valence_arousal`` ((2,) float32, NaN where
    the CSV has -2). Rows with ``expression >= num_classes`` (default: keep the 8 emotions 0-7) are dropped, and with
    ``drop_invalid_valence_arousal`` so are rows whose valence or arousal is -2. A malformed row raises
    ``ValueError("<file>:<line>: ...")``.
    """
    csv_path = Path(csv_path)
    image_root = Path(image_root) if image_root is not None else csv_path.parent
    records = []
    with open(csv_path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{csv_path}:1: expected the AffectNet header {','.join(COLUMNS)}; missing {missing}")
        for row in reader:
            where = f"{csv_path}:{reader.line_num}"
            if row.get("subDirectory_filePath") is None or None in row.values():
                raise ValueError(f"{where}: expected {len(COLUMNS)} comma-separated fields")
            parsed = _row(row, where)
            if parsed["expression"] >= num_classes:
                continue
            va = np.array([parsed["valence"], parsed["arousal"]], np.float32)
            if (va == -2).any():
                if drop_invalid_valence_arousal:
                    continue
                va[va == -2] = np.nan
            records.append({"image_path": str(image_root / parsed["relative_path"]), "box": parsed["box"],
                            "landmarks": parsed["landmarks"], "label": parsed["expression"], "valence_arousal": va})
    if not records:
        raise ValueError(f"{csv_path}: no rows with expression < {num_classes}")
    return records


def write_affectnet_csv(path, records) -> Path:
    """Write records (``relative_path``, ``box`` xyxy, optional ``landmarks`` (68, 2), ``label``, ``valence``,
    ``arousal``) as an AffectNet CSV (for tests and converted subsets)."""
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for record in records:
            x1, y1, x2, y2 = record["box"]
            points = record.get("landmarks")
            text = "" if points is None else ";".join(f"{v:.2f}" for v in np.asarray(points).reshape(-1))
            writer.writerow([record["relative_path"], x1, y1, x2 - x1, y2 - y1, text, record["label"],
                             record["valence"], record["arousal"]])
    return path


__all__ = ["COLUMNS", "EXPRESSION_NAMES", "NUM_EMOTIONS", "read_affectnet_csv", "write_affectnet_csv"]
