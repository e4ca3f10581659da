"""Kinetics annotation CSVs, the K600 novel-class zero-shot protocol and a seeded class-split builder.

- ``kinetics{400,600}/{train,validate,test}.csv`` (header): ``label, youtube_id, time_start, time_end, split``
  (+ ``is_cc`` in some releases; the test CSVs may lack ``label``). A clip's file is usually named
  ``{youtube_id}_{time_start:06d}_{time_end:06d}.mp4``, stored flat or under ``<label>/``.
- Zero-shot K600 protocol (ER-ZSAR, spec section 4): the K600 classes **not in K400** (220 in the paper), evaluated
  on the K600 **validation** videos of those classes, over 3 random subsets of 160 classes; top-1 and top-5,
  mean ± std.
  ER-ZSAR's own split files were not available to us: :func:`random_class_splits` draws seeded subsets instead
  *[D]*, so numbers are comparable across our runs, not exactly with the papers' splits (or pass your own class lists).

Malformed content raises ``ValueError("<file>:<line>: ...")``.
"""

import csv
import logging
from pathlib import Path

import numpy as np

from .text_lines import numbered_lines

KINETICS_COLUMNS = ("label", "youtube_id", "time_start", "time_end", "split")
K600_NOVEL_CLASSES = 220  # the paper's count of K600 classes not in K400
K600_CLASSES_PER_SPLIT = 160
K600_NUM_SPLITS = 3

logger = logging.getLogger(__name__)


def kinetics_video_name(youtube_id: str, time_start: int, time_end: int, suffix: str = ".mp4") -> str:
    """The usual clip file name: ``{youtube_id}_{time_start:06d}_{time_end:06d}.mp4``."""
    return f"{youtube_id}_{int(time_start):06d}_{int(time_end):06d}{suffix}"


def read_kinetics_csv(path, require_label: bool = True) -> list[dict]:
    """Rows ``{"label", "youtube_id", "time_start", "time_end", "split", "video"}`` (``video``: the clip file name;
    ``label`` None when the CSV has no label column and ``require_label`` is False)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"Kinetics CSV not found: {path}")
    rows = []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        needed = set(KINETICS_COLUMNS) - ({"label"} if not require_label else set())
        missing = needed - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}:1: expected the header columns {list(KINETICS_COLUMNS)}, missing "
                             f"{sorted(missing)}")
        for line_no, row in enumerate(reader, start=2):
            try:
                start, end = int(float(row["time_start"])), int(float(row["time_end"]))
            except (TypeError, ValueError):
                raise ValueError(f"{path}:{line_no}: expected integer time_start and time_end, got "
                                 f"{row.get('time_start')!r} and {row.get('time_end')!r}") from None
            label = (row.get("label") or "").strip() or None
            if require_label and label is None:
                raise ValueError(f"{path}:{line_no}: expected a non-empty label")
            if not (row.get("youtube_id") or "").strip():
                raise ValueError(f"{path}:{line_no}: expected a non-empty youtube_id")
            youtube_id = row["youtube_id"].strip()
            rows.append({"label": label, "youtube_id": youtube_id, "time_start": start, "time_end": end,
                         "split": (row.get("split") or "").strip(),
                         "video": kinetics_video_name(youtube_id, start, end)})
    if not rows:
        raise ValueError(f"{path}: no clip listed")
    return rows


def read_kinetics_classes(path) -> list[str]:
    """Sorted class names from a Kinetics CSV (its ``label`` column) or a text file with one class per line."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return sorted({row["label"] for row in read_kinetics_csv(path)})
    names = [line for _, line in numbered_lines(path, "a class list, one class per line")]
    if not names:
        raise ValueError(f"{path}: no class listed")
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: class names must be distinct")
    return sorted(names)


def kinetics_class_text(name: str) -> str:
    """A class name as words for a text prompt (underscores to spaces): ``"playing_guitar" -> "playing guitar"``."""
    return name.replace("_", " ").strip()


def kinetics_novel_classes(k600_classes, k400_classes, expected: int | None = K600_NOVEL_CLASSES) -> list[str]:
    """The K600 classes not in K400 (sorted). Names are compared after ``kinetics_class_text`` and lower-casing;
    a count other than ``expected`` (the paper's 220) is logged, not raised (releases renamed a few classes)."""
    known = {kinetics_class_text(c).lower() for c in k400_classes}
    novel = sorted(c for c in set(k600_classes) if kinetics_class_text(c).lower() not in known)
    if not novel:
        raise ValueError("no K600 class is missing from K400: check the two class lists")
    if expected is not None and len(novel) != expected:
        logger.warning("found %d K600 classes not in K400, the paper uses %d", len(novel), expected)
    return novel


def random_class_splits(classes, num_splits: int, classes_per_split: int, seed: int = 0) -> list[list[str]]:
    """``num_splits`` seeded random subsets of ``classes_per_split`` classes each (each subset sorted).

    A pure function of ``(sorted classes, num_splits, classes_per_split, seed)``: the input order does not matter.
    Serves K600's 3 x 160 protocol and the 50%-of-classes protocol of Brattoli et al. (``classes_per_split =
    len(classes) // 2``, 10 splits).
    """
    classes = sorted(set(classes))
    if num_splits < 1:
        raise ValueError(f"num_splits must be >= 1, got {num_splits}")
    if not 1 <= classes_per_split <= len(classes):
        raise ValueError(f"classes_per_split must be in [1, {len(classes)}] (the number of classes), got "
                         f"{classes_per_split}")
    rng = np.random.default_rng(seed)
    return [sorted(classes[i] for i in rng.choice(len(classes), classes_per_split, replace=False))
            for _ in range(num_splits)]


def kinetics600_zero_shot_splits(val_csv, k400_classes, num_splits: int = K600_NUM_SPLITS,
                                 classes_per_split: int = K600_CLASSES_PER_SPLIT, seed: int = 0,
                                 novel_classes=None, class_splits=None) -> list[dict]:
    """The K600 novel-class zero-shot splits over the validation CSV.

    Args:
        val_csv: K600 ``validate.csv``.
        k400_classes: K400 class names, or a path to a K400 CSV / class list (ignored with ``novel_classes``).
        num_splits, classes_per_split, seed: the random class subsets (3 x 160 in the paper *[R]*; seeded *[D]*).
        novel_classes: the novel class list to use instead of "K600 minus K400" (e.g. ER-ZSAR's 220).
        class_splits: explicit class subsets (e.g. ER-ZSAR's split files), overriding the random ones.

    Returns:
        per split ``{"name": "split1", "class_names": [...], "videos": ["<label>/<clip>.mp4", ...], "labels": [...]}``.
    """
    rows = read_kinetics_csv(val_csv)
    k600 = sorted({row["label"] for row in rows})
    if novel_classes is None:
        if isinstance(k400_classes, (str, Path)):
            k400_classes = read_kinetics_classes(k400_classes)
        novel_classes = kinetics_novel_classes(k600, k400_classes)
    unknown = sorted(set(novel_classes) - set(k600))
    if unknown:
        raise ValueError(f"{val_csv}: the novel classes {unknown[:5]} have no validation clip")
    if class_splits is None:
        class_splits = random_class_splits(novel_classes, num_splits, classes_per_split, seed)
    result = []
    for number, classes in enumerate(class_splits, start=1):
        classes = list(classes)
        index = {name: i for i, name in enumerate(classes)}
        chosen = [row for row in rows if row["label"] in index]
        if not chosen:
            raise ValueError(f"{val_csv}: class split {number} has no validation clip")
        result.append({"name": f"split{number}", "class_names": classes,
                       "videos": [f"{row['label']}/{row['video']}" for row in chosen],
                       "labels": [index[row["label"]] for row in chosen]})
    return result


__all__ = [
    "K600_CLASSES_PER_SPLIT",
    "K600_NOVEL_CLASSES",
    "K600_NUM_SPLITS",
    "KINETICS_COLUMNS",
    "kinetics600_zero_shot_splits",
    "kinetics_class_text",
    "kinetics_novel_classes",
    "kinetics_video_name",
    "random_class_splits",
    "read_kinetics_classes",
    "read_kinetics_csv",
]
