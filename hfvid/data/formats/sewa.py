"""SEWA valence/arousal through a JSON manifest (the raw SEWA layout is not verified here).

A one-off conversion writes ``[{"video", "frame", "time", "valence", "arousal"}, ...]`` (frame 0-based; gold-standard
labels aligned to video frames by nearest time stamp; frames outside the annotated span left out). Training code
reads only this manifest, so it never depends on the raw release layout.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from .affect_labels import labels_dataset

_KEYS = ("video", "frame", "valence", "arousal")


def load_sewa_manifest(path):
    """JSON manifest -> canonical ``Dataset``; a bad record raises ``ValueError("<file>:<record>: ...")``
    (NaN or null marks a missing label)."""
    path = Path(path)
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
    if not isinstance(records, list) or not records:
        raise ValueError(f"{path}:1: expected a non-empty JSON list of records {list(_KEYS)}")
    rows = []
    for index, record in enumerate(records):
        missing = [k for k in _KEYS if k not in record]
        if missing:
            raise ValueError(f"{path}:record {index}: missing keys {missing}")
        labels = [math.nan if record[k] is None else float(record[k]) for k in ("valence", "arousal")]
        if any(not math.isnan(v) and not -1.0 <= v <= 1.0 for v in labels):
            raise ValueError(f"{path}:record {index}: valence/arousal must be in [-1, 1], got {labels}")
        if int(record["frame"]) < 0:
            raise ValueError(f"{path}:record {index}: frame must be >= 0 (0-based), got {record['frame']}")
        video = str(record["video"])
        rows.append({"video_id": video, "subject_id": str(record.get("subject", video)),
                     "frame": int(record["frame"]), "labels": labels})
    return labels_dataset(rows)


__all__ = ["load_sewa_manifest"]
