"""Charades v1 annotation files: the train/test CSVs, the class list and the classification submission.

- ``Charades_v1_{train,test}.csv`` (header): ``id, subject, scene, quality, relevance, verified, script, objects,
  descriptions, actions, length``; ``actions`` is ``;``-separated ``c092 11.90 21.20`` (class, start s, end s).
- ``Charades_v1_classes.txt``: ``c000 Holding some clothes`` per line (157 classes).
- classification submission: ``<video id> <score c000> ... <score c156>`` per line (space-separated).

Malformed content raises ``ValueError("<file>:<line>: ...")``.
"""

import csv
import re
from pathlib import Path

import numpy as np

NUM_CHARADES_CLASSES = 157
_ACTION = re.compile(r"^c(\d{3})$")


def _class_index(token: str, where: str) -> int:
    match = _ACTION.match(token)
    if not match:
        raise ValueError(f"{where}: expected a class like 'c092', got {token!r}")
    return int(match.group(1))


def parse_actions(text: str, where: str = "actions") -> list[tuple[int, float, float]]:
    """``"c092 11.90 21.20;c147 0.00 12.60"`` -> ``[(92, 11.9, 21.2), (147, 0.0, 12.6)]``."""
    actions = []
    for item in filter(None, (part.strip() for part in (text or "").split(";"))):
        fields = item.split()
        if len(fields) != 3:
            raise ValueError(f"{where}: expected 'cXXX start end', got {item!r}")
        try:
            start, end = float(fields[1]), float(fields[2])
        except ValueError:
            raise ValueError(f"{where}: start/end of {item!r} must be numbers") from None
        actions.append((_class_index(fields[0], where), start, end))
    return actions


def read_charades_csv(path, num_classes: int = NUM_CHARADES_CLASSES) -> list[dict]:
    """Records ``{id, actions [(class, start, end)], labels (C,) multi-hot float32, length, scene, ...}``."""
    records = []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"id", "actions"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}:1: header lacks the columns {sorted(missing)}")
        for line_no, row in enumerate(reader, start=2):
            where = f"{path}:{line_no}"
            actions = parse_actions(row["actions"], where)
            labels = np.zeros(num_classes, np.float32)
            for index, _, _ in actions:
                if index >= num_classes:
                    raise ValueError(f"{where}: class c{index:03d} is outside the {num_classes} classes")
                labels[index] = 1.0
            length = row.get("length")
            try:
                length = float(length) if length not in (None, "") else None
            except ValueError:
                raise ValueError(f"{where}: length must be a number, got {length!r}") from None
            records.append({**{k: v for k, v in row.items() if k not in ("actions", "length")},
                            "actions": actions, "labels": labels, "length": length})
    return records


def charades_clips(records: list[dict], keys, clips_per_video: int | None = None) -> tuple[list[dict], list[str]]:
    """Clips of each annotated video in a per-second feature bank, with the video's labels.

    ``keys`` are the bank's ``(video_id, second)`` entries (one clip feature per second, as
    ``extract_feature_bank.py`` writes them with a full-frame box). Returns ``(clips, missing)``: clips
    ``{video_id, second, labels, video_index}`` in record order (``clips_per_video`` seconds spread uniformly over the
    video's seconds, or all of them), and the ids of the videos the bank lacks.
    """
    if clips_per_video is not None and clips_per_video < 1:
        raise ValueError(f"clips_per_video must be >= 1 or None, got {clips_per_video}")
    seconds = {}
    for video_id, second in keys:
        seconds.setdefault(video_id, []).append(int(second))
    clips, missing = [], []
    for index, record in enumerate(records):
        available = sorted(set(seconds.get(record["id"], [])))
        if not available:
            missing.append(record["id"])
            continue
        if clips_per_video is not None and len(available) > clips_per_video:
            available = [available[i] for i in np.linspace(0, len(available) - 1, clips_per_video).round().astype(int)]
        clips += [{"video_id": record["id"], "second": s, "labels": record["labels"], "video_index": index}
                  for s in available]
    return clips, missing


def write_charades_csv(path, records: list[dict]) -> Path:
    """Write records (``id``, ``actions``, optional ``length`` and other columns) in the Charades CSV layout."""
    columns = ["id", "subject", "scene", "quality", "relevance", "verified", "script", "objects", "descriptions",
               "actions", "length"]
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for record in records:
            row = {k: record.get(k, "") for k in columns}
            row["actions"] = ";".join(f"c{c:03d} {s:.2f} {e:.2f}" for c, s, e in record.get("actions", []))
            row["length"] = "" if record.get("length") is None else f"{record['length']:.2f}"
            writer.writerow(row)
    return path


def read_charades_classes(path) -> dict[int, str]:
    """``{index: name}`` from ``Charades_v1_classes.txt``."""
    classes = {}
    for line_no, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        token, _, name = line.strip().partition(" ")
        classes[_class_index(token, f"{path}:{line_no}")] = name.strip()
    return classes


def write_charades_submission(path, video_ids, scores) -> Path:
    """One line per video: id then one score per class (the official classification submission)."""
    scores = np.asarray(scores, np.float64)
    if scores.ndim != 2 or len(scores) != len(video_ids):
        raise ValueError(f"scores must have shape ({len(video_ids)}, num_classes), got {scores.shape}")
    path = Path(path)
    path.write_text("".join(f"{v} " + " ".join(f"{s:.6f}" for s in row) + "\n" for v, row in zip(video_ids, scores)))
    return path


def read_charades_submission(path) -> tuple[list[str], np.ndarray]:
    """``(video_ids, scores (V, C))`` of a submission file."""
    ids, rows = [], []
    for line_no, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        try:
            rows.append([float(v) for v in fields[1:]])
        except ValueError:
            raise ValueError(f"{path}:{line_no}: scores must be numbers") from None
        if rows[0] and len(rows[-1]) != len(rows[0]):
            raise ValueError(f"{path}:{line_no}: expected {len(rows[0])} scores, got {len(rows[-1])}")
        ids.append(fields[0])
    return ids, np.array(rows, np.float64)


__all__ = [
    "NUM_CHARADES_CLASSES",
    "charades_clips",
    "parse_actions",
    "read_charades_classes",
    "read_charades_csv",
    "read_charades_submission",
    "write_charades_csv",
    "write_charades_submission",
]
