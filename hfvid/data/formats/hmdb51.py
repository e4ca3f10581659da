"""HMDB51 split files (``testTrainMulti_7030_splits``) and its zero-shot evaluation splits.

One file per class and split, ``<class>_test_split<N>.txt`` (N = 1, 2, 3), with rows ``<video>.avi <code>``:
code 1 = train, 2 = test, 0 = unused in that split. Videos are stored as ``<class>/<video>.avi``.

Zero-shot protocol (spec section 4): top-1 over all 51 classes on the test part (code 2) of each split, reported as
mean ± std over the three splits. Malformed content raises ``ValueError("<file>:<line>: ...")``.
"""

import re
from pathlib import Path

from .text_lines import numbered_lines

NUM_HMDB51_CLASSES = 51
HMDB51_UNUSED, HMDB51_TRAIN, HMDB51_TEST = 0, 1, 2
_SPLIT_FILE = re.compile(r"^(?P<name>.+)_test_split(?P<split>\d+)\.txt$")


def read_hmdb51_split_file(path) -> tuple[str, int, list[tuple[str, int]]]:
    """``(class name, split number, [(video file, code), ...])`` of one ``<class>_test_split<N>.txt``."""
    path = Path(path)
    match = _SPLIT_FILE.match(path.name)
    if not match:
        raise ValueError(f"{path}: expected a file named '<class>_test_split<N>.txt'")
    rows = []
    for line_no, line in numbered_lines(path, "an HMDB51 split file"):
        fields = line.split()
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise ValueError(f"{path}:{line_no}: expected '<video>.avi <0|1|2>' (0 unused, 1 train, 2 test), "
                             f"got {line!r}")
        rows.append((fields[0], int(fields[1])))
    if not rows:
        raise ValueError(f"{path}: no video listed")
    return match.group("name"), int(match.group("split")), rows


def read_hmdb51_splits(split_dir) -> dict[int, dict[str, list[tuple[str, int]]]]:
    """``{split: {class: [(video, code), ...]}}`` of every split file in ``split_dir`` (classes sorted)."""
    folder = Path(split_dir)
    if not folder.is_dir():
        raise ValueError(f"HMDB51 split folder not found: {folder}")
    splits: dict[int, dict[str, list[tuple[str, int]]]] = {}
    for path in sorted(folder.glob("*_test_split*.txt")):
        name, split, rows = read_hmdb51_split_file(path)
        splits.setdefault(split, {})[name] = rows
    if not splits:
        raise ValueError(f"no '<class>_test_split<N>.txt' file in {folder}")
    classes = {split: sorted(table) for split, table in splits.items()}
    first = next(iter(classes.values()))
    for split, names in classes.items():
        if names != first:
            raise ValueError(f"{folder}: split {split} lists classes {sorted(set(names) ^ set(first))[:5]} that "
                             "other splits do not (expected the same classes in every split)")
    return {split: {name: splits[split][name] for name in classes[split]} for split in sorted(splits)}


def hmdb51_class_text(name: str) -> str:
    """A class name as words for a text prompt: ``brush_hair -> "brush hair"``."""
    return name.replace("_", " ").strip()


def hmdb51_zero_shot_splits(split_dir, splits=(1, 2, 3), code: int = HMDB51_TEST) -> list[dict]:
    """The zero-shot evaluation splits: per split N, its test videos (``code``) over all classes.

    Returns:
        per split ``{"name": "split1", "class_names": [...], "videos": ["class/video.avi", ...], "labels": [...]}``.
    """
    if code not in (HMDB51_UNUSED, HMDB51_TRAIN, HMDB51_TEST):
        raise ValueError(f"code must be 0 (unused), 1 (train) or 2 (test), got {code!r}")
    table = read_hmdb51_splits(split_dir)
    result = []
    for split in splits:
        if split not in table:
            raise ValueError(f"{split_dir}: no split {split!r} (found splits {sorted(table)})")
        classes = list(table[split])
        videos, labels = [], []
        for label, name in enumerate(classes):
            for video, row_code in table[split][name]:
                if row_code == code:
                    videos.append(f"{name}/{video}")
                    labels.append(label)
        if not videos:
            raise ValueError(f"{split_dir}: split {split} has no video with code {code}")
        result.append({"name": f"split{split}", "class_names": classes, "videos": videos, "labels": labels})
    return result


__all__ = [
    "HMDB51_TEST",
    "HMDB51_TRAIN",
    "HMDB51_UNUSED",
    "NUM_HMDB51_CLASSES",
    "hmdb51_class_text",
    "hmdb51_zero_shot_splits",
    "read_hmdb51_split_file",
    "read_hmdb51_splits",
]
