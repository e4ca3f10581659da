"""AVA v2.x annotation files: box/action CSVs, excluded timestamps, label maps, and results CSVs.

- ``ava_{train,val}_v2.2.csv`` (no header): ``video_id, middle_frame_timestamp, x1, y1, x2, y2, action_id,
  person_id``, one row per (person box, action); boxes normalised to [0, 1], (0, 0) top-left.
- results CSV (what a model writes and the evaluator reads): ``video_id, timestamp, x1, y1, x2, y2, action_id,
  score``.
- person-box CSV of a detector (``ava_val_predicted_boxes.csv`` of LFB/PySlowFast): ``video_id, timestamp, x1, y1,
  x2, y2[, action_id][, score]``, action_id empty or -1; the boxes that are evaluated instead of ground truth.
- ``ava_*_excluded_timestamps_v2.2.csv``: ``video_id, timestamp`` keyframes ignored in evaluation.
- label maps: ``ava_action_list_v2.2_for_activitynet_2019.pbtxt`` (``item { name: "..." id: N }``, the 60
  evaluated classes) or the full list (``label { name: "..." label_id: N label_type: ... }``, 80 classes).

Timestamps are integer seconds (``"0902"`` -> 902); a keyframe is keyed by ``(video_id, timestamp)``.
Malformed rows raise ``ValueError("<file>:<line>: ...")``.
"""

import csv
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

AVA_FPS = 30
AVA_SEGMENT = (900, 1800)  # seconds of each movie that are annotated (keyframes 902..1798)
# The 60 AVA v2.2 action ids (1-based) scored by the official evaluator (ActivityNet 2019 whitelist).
AVA_EVAL_ACTION_IDS = (
    1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17, 20, 22, 24, 26, 27, 28, 29, 30, 34, 36, 37, 38, 41, 43, 45, 46,
    47, 48, 49, 51, 52, 54, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 72, 73, 74, 76, 77, 78, 79, 80,
)


def _rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        for line_no, row in enumerate(csv.reader(handle), start=1):
            if row and any(cell.strip() for cell in row):
                yield line_no, [cell.strip() for cell in row]


def _number(value: str, kind, where: str, name: str):
    try:
        return kind(float(value)) if kind is int else kind(value)
    except ValueError:
        raise ValueError(f"{where}: {name} must be a number, got {value!r}") from None


def read_ava_csv(path, kind: str = "annotations") -> list[dict]:
    """Rows of an AVA annotation CSV (``kind="annotations"``, last column person_id, 7 columns accepted too) or a
    results CSV (``kind="detections"``, last column score) as dicts ``{video_id, timestamp, box (x1, y1, x2, y2),
    action_id, person_id | score}``."""
    if kind not in ("annotations", "detections"):
        raise ValueError(f"kind must be 'annotations' or 'detections', got {kind!r}")
    rows = []
    for line_no, row in _rows(path):
        where = f"{path}:{line_no}"
        expected = (7, 8) if kind == "annotations" else (8,)
        if len(row) not in expected:
            raise ValueError(f"{where}: expected {' or '.join(map(str, expected))} comma-separated fields "
                             f"(video_id, timestamp, x1, y1, x2, y2, action_id, "
                             f"{'person_id' if kind == 'annotations' else 'score'}), got {len(row)}: {row}")
        box = tuple(_number(v, float, where, name) for v, name in zip(row[2:6], ("x1", "y1", "x2", "y2")))
        if not (0.0 <= box[0] <= box[2] <= 1.0 and 0.0 <= box[1] <= box[3] <= 1.0):
            raise ValueError(f"{where}: box must be normalised with 0 <= x1 <= x2 <= 1 and 0 <= y1 <= y2 <= 1, "
                             f"got {box}")
        record = {
            "video_id": row[0],
            "timestamp": _number(row[1], int, where, "timestamp"),
            "box": box,
            "action_id": _number(row[6], int, where, "action_id"),
        }
        if kind == "detections":
            record["score"] = _number(row[7], float, where, "score")
        else:
            record["person_id"] = _number(row[7], int, where, "person_id") if len(row) == 8 else -1
        rows.append(record)
    return rows


def read_ava_person_boxes(path, threshold: float = 0.0) -> dict[tuple[str, int], dict[str, np.ndarray]]:
    """Detected person boxes per keyframe from an AVA person-box CSV (6 fields, 7 with a score, or 8 with an
    ignored action_id column before the score; a results CSV works too): ``{(video_id, timestamp): {"boxes": (P, 4)
    normalised float32, "scores": (P,)}}``. Boxes scored below ``threshold`` are dropped (PySlowFast tests AVA at
    0.8, mmaction2's LFB at 0.85); a box repeated on several rows is kept once, with its best score, in file order.
    Keyframes left without boxes are absent."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be a detection score in [0, 1], got {threshold!r}")
    found: dict[tuple[str, int], dict[tuple, float]] = defaultdict(dict)
    for line_no, row in _rows(path):
        where = f"{path}:{line_no}"
        if len(row) not in (6, 7, 8):
            raise ValueError(f"{where}: expected 6-8 comma-separated fields (video_id, timestamp, x1, y1, x2, y2, "
                             f"[action_id,] [score]), got {len(row)}: {row}")
        box = tuple(_number(v, float, where, name) for v, name in zip(row[2:6], ("x1", "y1", "x2", "y2")))
        if not (0.0 <= box[0] <= box[2] <= 1.0 and 0.0 <= box[1] <= box[3] <= 1.0):
            raise ValueError(f"{where}: box must be normalised with 0 <= x1 <= x2 <= 1 and 0 <= y1 <= y2 <= 1, "
                             f"got {box}")
        score = _number(row[-1], float, where, "score") if len(row) > 6 else 1.0
        if score < threshold:
            continue
        boxes = found[(row[0], _number(row[1], int, where, "timestamp"))]
        boxes[box] = max(score, boxes.get(box, score))
    return {key: {"boxes": np.array(list(boxes), np.float32).reshape(-1, 4),
                  "scores": np.array(list(boxes.values()), np.float32)} for key, boxes in found.items()}


def write_ava_csv(path, rows: list[dict]) -> Path:
    """Write annotation rows (with ``person_id``) or result rows (with ``score``) in the official layout."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        for row in rows:
            last = f"{row['score']:.6f}" if "score" in row else str(int(row.get("person_id", -1)))
            writer.writerow([row["video_id"], f"{int(row['timestamp']):04d}",
                             *(f"{float(v):.3f}" for v in row["box"]), int(row["action_id"]), last])
    return path


def read_excluded_timestamps(path) -> set[tuple[str, int]]:
    """``{(video_id, timestamp)}`` of an excluded-timestamps CSV."""
    excluded = set()
    for line_no, row in _rows(path):
        if len(row) != 2:
            raise ValueError(f"{path}:{line_no}: expected 2 fields (video_id, timestamp), got {len(row)}: {row}")
        excluded.add((row[0], _number(row[1], int, f"{path}:{line_no}", "timestamp")))
    return excluded


def drop_excluded(records: list[dict], excluded) -> list[dict]:
    """Rows or keyframe records whose ``(video_id, timestamp)`` is not in ``excluded`` (for training as well as
    evaluation: an excluded keyframe's labels are unreliable either way)."""
    excluded = set(excluded or ())
    return [r for r in records if (r["video_id"], int(r["timestamp"])) not in excluded]


def video_time(timestamp, time_offset: float = 0.0) -> float:
    """Seconds into the video file of an AVA ``timestamp``. AVA timestamps count from the start of the full movie
    (keyframes 902..1798); for files cut to the annotated 15 minutes (starting at second 900) pass
    ``time_offset=900``."""
    seconds = float(timestamp) - float(time_offset)
    if seconds < 0:
        raise ValueError(f"timestamp {timestamp} minus time_offset {time_offset} is negative: the offset must be "
                         "the movie second at which the video files start (900 for AVA's 15-minute cuts, else 0)")
    return seconds


_ITEM = re.compile(r"(item|label)\s*\{(.*?)\}", re.DOTALL)
_FIELD = re.compile(r'(\w+)\s*:\s*("(?:[^"\\]|\\.)*"|\S+)')


def read_ava_label_map(path) -> dict[int, str]:
    """``{action_id: name}`` of an AVA ``.pbtxt`` label map (both the ``item {name, id}`` and the
    ``label {name, label_id, label_type}`` layouts)."""
    text = Path(path).read_text(encoding="utf-8")
    labels = {}
    for match in _ITEM.finditer(text):
        fields = {key: value.strip('"') for key, value in _FIELD.findall(match.group(2))}
        identifier = fields.get("id", fields.get("label_id"))
        if "name" not in fields or identifier is None or not identifier.isdigit():
            line = text[: match.start()].count("\n") + 1
            raise ValueError(f"{path}:{line}: expected an entry with a name and a numeric id/label_id, "
                             f"got {match.group(0)!r}")
        labels[int(identifier)] = fields["name"]
    if not labels:
        raise ValueError(f"{path}: no 'item {{ ... }}' or 'label {{ ... }}' entries found")
    return labels


def group_keyframes(rows: list[dict], num_classes: int = 80) -> list[dict]:
    """Annotation rows -> one record per keyframe: ``{video_id, timestamp, boxes (P, 4), labels (P, C) multi-hot
    float32, person_ids (P,)}``; rows of one box (same person and coordinates) are merged. Action ``a`` sets column
    ``a - 1``."""
    keyframes = defaultdict(dict)
    for row in rows:
        if not 1 <= row["action_id"] <= num_classes:
            raise ValueError(f"action_id {row['action_id']} of {row['video_id']},{row['timestamp']} is outside "
                             f"1..{num_classes}")
        person = keyframes[(row["video_id"], row["timestamp"])].setdefault(
            (row.get("person_id", -1), tuple(row["box"])), set()
        )
        person.add(row["action_id"])
    records = []
    for (video_id, timestamp), people in sorted(keyframes.items()):
        labels = np.zeros((len(people), num_classes), np.float32)
        for i, actions in enumerate(people.values()):
            labels[i, [a - 1 for a in actions]] = 1.0
        records.append({
            "video_id": video_id,
            "timestamp": timestamp,
            "boxes": np.array([key[1] for key in people], np.float32),
            "labels": labels,
            "person_ids": np.array([key[0] for key in people], np.int64),
        })
    return records


def keyframes_to_dataset(records: list[dict]):
    """Keyframe records (from :func:`group_keyframes`) as a ``datasets.Dataset``."""
    import datasets

    return datasets.Dataset.from_dict({
        "video_id": [r["video_id"] for r in records],
        "timestamp": [int(r["timestamp"]) for r in records],
        "boxes": [np.asarray(r["boxes"]).tolist() for r in records],
        "labels": [np.asarray(r["labels"]).tolist() for r in records],
        "person_ids": [np.asarray(r["person_ids"]).tolist() for r in records],
    })


def read_ava_annotations(path, num_classes: int = 80):
    """An AVA annotation CSV as a ``datasets.Dataset`` with one row per keyframe (see :func:`group_keyframes`)."""
    return keyframes_to_dataset(group_keyframes(read_ava_csv(path, "annotations"), num_classes))


def predictions_to_rows(video_id: str, timestamp: int, boxes, scores, action_ids=None) -> list[dict]:
    """Results rows for one keyframe: ``boxes`` (P, 4) normalised, ``scores`` (P, C); ``action_ids`` (C,) maps
    columns to AVA ids (default column + 1)."""
    boxes, scores = np.asarray(boxes, np.float64), np.asarray(scores, np.float64)
    action_ids = np.arange(1, scores.shape[1] + 1) if action_ids is None else np.asarray(action_ids)
    return [
        {"video_id": video_id, "timestamp": int(timestamp), "box": tuple(box), "action_id": int(a), "score": float(s)}
        for box, row in zip(boxes, scores) for a, s in zip(action_ids, row)
    ]


__all__ = [
    "AVA_EVAL_ACTION_IDS",
    "AVA_FPS",
    "AVA_SEGMENT",
    "drop_excluded",
    "group_keyframes",
    "keyframes_to_dataset",
    "predictions_to_rows",
    "read_ava_annotations",
    "read_ava_csv",
    "read_ava_label_map",
    "read_ava_person_boxes",
    "read_excluded_timestamps",
    "video_time",
    "write_ava_csv",
]
