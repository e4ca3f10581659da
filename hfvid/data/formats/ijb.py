"""IJB-B / IJB-C 1:1 verification protocol files (insightface layout) and template pooling.

Under ``<root>/meta/``: ``<prefix>_face_tid_mid.txt`` (``image template_id media_id`` per face image),
``<prefix>_template_pair_label.txt`` (``template1 template2 label``, 1 = same person) and optionally
``<prefix>_name_5pts_score.txt`` (``image x1 y1 ... x5 y5 score``: 5 landmarks + detector score used for
alignment); images under ``<root>/loose_crop/``. ``prefix`` is ``ijbb`` or ``ijbc``.

Template pooling (media means of unit image features, then template means, L2-normalised) and TAR@FAR live in
:mod:`hfvid.metrics.verification` (``template_features``, ``tar_at_far``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _read_table(path, columns: int, names: str, converters) -> list[list]:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: missing IJB protocol file (expected lines '{names}')")
    rows = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            if len(fields) != columns:
                raise ValueError
            rows.append([convert(value) for convert, value in zip(converters, fields)])
        except ValueError:
            raise ValueError(f"{path}:{line_no}: expected {columns} fields '{names}', got {fields}") from None
    if not rows:
        raise ValueError(f"{path}: no lines (expected '{names}')")
    return rows


def read_ijb_protocol(root, prefix: str = "ijbb") -> dict:
    """``{"images": [path], "templates": (N,) int, "medias": (N,) int, "pairs": (P, 2) int, "labels": (P,) bool,
    "landmarks": (N, 5, 2) float32 or None, "scores": (N,) float32 or None}`` of one IJB benchmark."""
    if prefix not in ("ijbb", "ijbc"):
        raise ValueError(f"prefix must be 'ijbb' or 'ijbc', got {prefix!r}")
    root = Path(root)
    meta = root / "meta"
    faces = _read_table(meta / f"{prefix}_face_tid_mid.txt", 3, "image template_id media_id", (str, int, int))
    pairs = _read_table(meta / f"{prefix}_template_pair_label.txt", 3, "template1 template2 label", (int, int, int))
    labels = np.array([p[2] for p in pairs])
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"{meta / f'{prefix}_template_pair_label.txt'}: expected labels 0 or 1, got "
                         f"{sorted(set(labels.tolist()) - {0, 1})}")
    known = {f[1] for f in faces}
    unknown = sorted({t for p in pairs for t in p[:2]} - known)
    if unknown:
        raise ValueError(f"{meta / f'{prefix}_template_pair_label.txt'}: templates {unknown[:5]} have no image in "
                         f"{prefix}_face_tid_mid.txt")
    landmarks = scores = None
    points_file = meta / f"{prefix}_name_5pts_score.txt"
    if points_file.is_file():
        rows = _read_table(points_file, 12, "image x1 y1 ... x5 y5 score", (str,) + (float,) * 11)
        by_name = {row[0]: row[1:] for row in rows}
        missing = [f[0] for f in faces if f[0] not in by_name]
        if missing:
            raise ValueError(f"{points_file}: no landmarks for images {missing[:5]}")
        values = np.array([by_name[f[0]] for f in faces], np.float32)
        landmarks, scores = values[:, :10].reshape(-1, 5, 2), values[:, 10]
    return {"images": [str(root / "loose_crop" / f[0]) for f in faces],
            "templates": np.array([f[1] for f in faces]), "medias": np.array([f[2] for f in faces]),
            "pairs": np.array([p[:2] for p in pairs]), "labels": labels.astype(bool),
            "landmarks": landmarks, "scores": scores}


__all__ = ["read_ijb_protocol"]
