"""What the per-frame affect / AU label readers share: line parsing with ``file:line`` errors and the
canonical ``datasets.Dataset`` of one row per frame.

Canonical columns (``affective_processes.md`` section 4): ``video_id`` (str), ``subject_id`` (str), ``frame`` (int,
0-based), ``labels`` (list of float, NaN where the label is missing or invalid). Readers of DISFA, BP4D/FERA2015,
Aff-Wild2 and SEWA produce exactly this; :func:`group_sequences` turns it into per-video arrays for training.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

COLUMNS = ("video_id", "subject_id", "frame", "labels")


def parse_frame_value_lines(path, value_range: tuple[float, float], missing: tuple[float, ...] = (),
                            integer: bool = True) -> dict[int, float]:
    """Read headerless ``frame,value`` lines (1-based frames) into ``{frame (0-based): value}``.

    Values in ``missing`` become NaN (e.g. BP4D's 9 = not coded). Malformed lines, duplicated frames, non-integer
    intensities (``integer``) and values outside ``value_range`` raise ``ValueError("<file>:<line>: ...")``.
    """
    path = Path(path)
    values: dict[int, float] = {}
    low, high = value_range
    for line_no, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        fields = [f.strip() for f in line.replace(";", ",").split(",")]
        if len(fields) != 2:
            raise ValueError(f"{path}:{line_no}: expected 'frame,value', got {line!r}")
        try:
            frame, value = int(float(fields[0])), float(fields[1])
        except ValueError:
            raise ValueError(f"{path}:{line_no}: expected an integer frame and a number, got {line!r}") from None
        if frame < 1:
            raise ValueError(f"{path}:{line_no}: frame numbers are 1-based, got {frame}")
        if frame - 1 in values:
            raise ValueError(f"{path}:{line_no}: frame {frame} appears twice")
        if value in missing:
            value = math.nan
        elif not low <= value <= high or (integer and value != int(value)):
            kind = "an integer " if integer else "a value "
            raise ValueError(f"{path}:{line_no}: expected {kind}in [{low:g}, {high:g}], got {fields[1]!r}")
        values[frame - 1] = value
    if not values:
        raise ValueError(f"{path}:1: no 'frame,value' lines")
    return values


def labels_dataset(rows: list[dict]):
    """Canonical rows -> ``datasets.Dataset`` (frames sorted per video, NaN for missing labels)."""
    from datasets import Dataset, Features, Sequence, Value

    features = Features({"video_id": Value("string"), "subject_id": Value("string"), "frame": Value("int64"),
                         "labels": Sequence(Value("float32"))})
    rows = sorted(rows, key=lambda r: (r["video_id"], r["frame"]))
    return Dataset.from_dict({c: [r[c] for r in rows] for c in COLUMNS}, features=features)


def group_sequences(dataset) -> dict[str, dict[str, np.ndarray]]:
    """Canonical dataset -> ``{video_id: {"frames": (T,) int, "labels": (T, K) float32 (NaN = missing)}}``."""
    table = dataset.with_format("numpy")
    video_ids = np.asarray(table["video_id"])
    frames = np.asarray(table["frame"])
    labels = np.stack([np.asarray(x, dtype=np.float32) for x in dataset["labels"]]) if len(dataset) else None
    sequences = {}
    for video in dict.fromkeys(video_ids.tolist()):
        rows = np.flatnonzero(video_ids == video)
        order = rows[np.argsort(frames[rows])]
        sequences[video] = {"frames": frames[order], "labels": labels[order]}
    return sequences


__all__ = ["COLUMNS", "group_sequences", "labels_dataset", "parse_frame_value_lines"]
