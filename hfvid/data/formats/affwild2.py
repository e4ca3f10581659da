"""Aff-Wild2 valence/arousal annotations: ``VA_Set/<split>/<video>.txt``.

Line 1 is the header ``valence,arousal``; line ``i + 1`` holds frame ``i`` (0-based) as ``v,a`` floats in [-1, 1].
``-5`` marks an invalid frame (-> NaN: excluded from losses and metrics). Videos with two people carry ``_left`` /
``_right`` suffixes and are separate sequences. The organisers' crops are ``cropped_aligned/<video>/00001.jpg``
(1-based, 5 digits).
"""

from __future__ import annotations

import math
from pathlib import Path

from .affect_labels import labels_dataset

INVALID = -5.0
HEADER = ("valence", "arousal")


def read_affwild2_va(path) -> list[dict]:
    """One annotation file -> canonical rows; bad header, malformed lines or out-of-range values raise
    ``ValueError("<file>:<line>: ...")``."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if not lines or tuple(f.strip().lower() for f in lines[0].split(",")) != HEADER:
        raise ValueError(f"{path}:1: expected the header 'valence,arousal', got {lines[0] if lines else ''!r}")
    video = path.stem
    subject = video.removesuffix("_left").removesuffix("_right")
    rows = []
    for line_no, raw in enumerate(lines[1:], start=2):
        line = raw.strip()
        if not line:
            continue
        fields = line.split(",")
        try:
            values = [float(f) for f in fields]
        except ValueError:
            raise ValueError(f"{path}:{line_no}: expected 'valence,arousal' numbers, got {line!r}") from None
        if len(values) != 2:
            raise ValueError(f"{path}:{line_no}: expected 2 values 'valence,arousal', got {len(values)}")
        labels = []
        for value in values:
            if value == INVALID:
                labels.append(math.nan)
            elif -1.0 <= value <= 1.0:
                labels.append(value)
            else:
                raise ValueError(f"{path}:{line_no}: values must be in [-1, 1] or -5 (invalid), got {value:g}")
        rows.append({"video_id": video, "subject_id": subject, "frame": line_no - 2, "labels": labels})
    if not rows:
        raise ValueError(f"{path}:1: no frames after the header")
    return rows


def load_affwild2_va(folder, videos=None):
    """Every ``*.txt`` of a ``VA_Set/<split>`` folder (or the given video names) -> canonical ``Dataset``."""
    folder = Path(folder)
    paths = sorted(folder.glob("*.txt"))
    if videos is not None:
        wanted = set(videos)
        paths = [p for p in paths if p.stem in wanted]
    if not paths:
        raise ValueError(f"{folder}: no Aff-Wild2 VA annotation files (<video>.txt)")
    return labels_dataset([row for path in paths for row in read_affwild2_va(path)])


def write_affwild2_va(path, labels) -> Path:
    """Write ``labels (T, 2)`` (NaN -> -5) as an Aff-Wild2 VA file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = [",".join("-5" if math.isnan(float(v)) else f"{float(v):.6f}" for v in row) for row in labels]
    path.write_text("\n".join(["valence,arousal", *body]) + "\n")
    return path


__all__ = ["INVALID", "load_affwild2_va", "read_affwild2_va", "write_affwild2_va"]
