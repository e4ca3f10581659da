"""WFLW annotation lists (``list_98pt_rect_attr_{train,test}.txt``).

Each line has 207 whitespace-separated fields: 196 floats ``x0 y0 ... x97 y97`` (used as 0-based
pixel coordinates, as given), 4 ints ``x_min y_min x_max y_max``, 6 binary attributes and the
image path relative to the image root.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .ibug_pts import landmark_features

NUM_POINTS = 98
ATTRIBUTES = ("pose", "expression", "illumination", "make_up", "occlusion", "blur")
NUM_FIELDS = 2 * NUM_POINTS + 4 + len(ATTRIBUTES) + 1  # 207


def _parse_line(line: str, where: str) -> dict:
    fields = line.split()
    if len(fields) != NUM_FIELDS:
        raise ValueError(
            f"{where}: expected {NUM_FIELDS} fields (196 coordinates, 4 box ints, 6 attributes, image path), "
            f"got {len(fields)}"
        )
    try:
        coords = np.asarray([float(v) for v in fields[: 2 * NUM_POINTS]], dtype=np.float32)
    except ValueError:
        raise ValueError(f"{where}: expected 196 numeric landmark coordinates in fields 1-196") from None
    try:
        box = [int(float(v)) for v in fields[196:200]]
        attrs = [int(v) for v in fields[200:206]]
    except ValueError:
        raise ValueError(f"{where}: expected 4 integer box values and 6 integer attributes in fields 197-206") from None
    if any(a not in (0, 1) for a in attrs):
        raise ValueError(f"{where}: expected binary (0/1) attributes in fields 201-206, got {attrs}")
    if box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError(f"{where}: expected box x_min < x_max and y_min < y_max, got {box}")
    return {
        "landmarks": coords.reshape(NUM_POINTS, 2),
        "box": [float(v) for v in box],
        "attributes": dict(zip(ATTRIBUTES, attrs)),
        "relative_path": fields[206],
    }


def read_wflw_annotations(annotation_file, image_root):
    """Read a WFLW annotation list into a ``datasets.Dataset``.

    Columns: ``image`` (``Image()`` from ``image_root / relative path``), ``landmarks`` (98 x 2),
    ``box`` (the annotated xyxy box), ``image_path`` and ``attributes`` (dict of 6 binary flags).
    Image files are only opened when a row is accessed.
    """
    import datasets

    annotation_file, image_root = Path(annotation_file), Path(image_root)
    records = {"image": [], "landmarks": [], "box": [], "image_path": [], "attributes": []}
    with open(annotation_file, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            row = _parse_line(line, f"{annotation_file}:{line_no}")
            path = str(image_root / row["relative_path"])
            records["image"].append(path)
            records["image_path"].append(path)
            records["landmarks"].append(row["landmarks"].tolist())
            records["box"].append(row["box"])
            records["attributes"].append(row["attributes"])
    if not records["image"]:
        raise ValueError(f"{annotation_file}: no annotation lines")
    extra = {"attributes": {name: datasets.Value("int8") for name in ATTRIBUTES}}
    return datasets.Dataset.from_dict(records, features=landmark_features(extra))


def write_wflw_annotations(path, records) -> None:
    """Write records (dicts with ``landmarks`` (98, 2), ``box`` (4,), ``attributes`` (dict or 6 ints)
    and ``image_path`` relative to the image root) as a WFLW annotation list."""
    lines = []
    for i, rec in enumerate(records):
        pts = np.asarray(rec["landmarks"], dtype=np.float64)
        if pts.shape != (NUM_POINTS, 2):
            raise ValueError(f"record {i}: landmarks must have shape (98, 2), got {pts.shape}")
        attrs = rec.get("attributes", [0] * len(ATTRIBUTES))
        if isinstance(attrs, dict):
            attrs = [attrs[name] for name in ATTRIBUTES]
        if len(attrs) != len(ATTRIBUTES):
            raise ValueError(f"record {i}: expected 6 attributes {ATTRIBUTES}, got {len(attrs)}")
        rel = str(rec["image_path"])
        if not rel or any(c.isspace() for c in rel):
            raise ValueError(f"record {i}: image_path must be non-empty without whitespace, got {rel!r}")
        fields = [f"{v:.6f}" for v in pts.reshape(-1)]
        fields += [str(int(round(v))) for v in rec["box"]]
        fields += [str(int(a)) for a in attrs] + [rel]
        lines.append(" ".join(fields))
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


__all__ = ["ATTRIBUTES", "NUM_FIELDS", "NUM_POINTS", "read_wflw_annotations", "write_wflw_annotations"]
