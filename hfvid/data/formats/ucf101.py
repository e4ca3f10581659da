"""UCF101 annotation lists (the official ``ucfTrainTestlist`` folder) and its zero-shot evaluation splits.

- ``classInd.txt``: ``1 ApplyEyeMakeup`` per line (1-based ids, 101 classes).
- ``trainlist0{1,2,3}.txt``: ``ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1`` (video path, 1-based class id).
- ``testlist0{1,2,3}.txt``: ``ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi`` (the class is the folder).

Zero-shot protocol (ER-ZSAR / ActionCLIP / X-CLIP, spec section 4): top-1 over **all 101 classes** on each of the
three test lists, reported as mean ± std over the splits.
Malformed content raises ``ValueError("<file>:<line>: ...")``.
"""

import re
from pathlib import Path

from .text_lines import numbered_lines

NUM_UCF101_CLASSES = 101
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def read_ucf101_classes(path) -> list[str]:
    """Class names in id order from ``classInd.txt`` (``names[i]`` has 1-based id ``i + 1``)."""
    names = []
    for line_no, line in numbered_lines(path, "a UCF101 annotation file"):
        fields = line.split()
        if len(fields) != 2 or not fields[0].isdigit():
            raise ValueError(f"{path}:{line_no}: expected '<id> <ClassName>', got {line!r}")
        if int(fields[0]) != len(names) + 1:
            raise ValueError(f"{path}:{line_no}: expected class id {len(names) + 1} (ids are 1, 2, ... in order), "
                             f"got {fields[0]}")
        names.append(fields[1])
    if not names:
        raise ValueError(f"{path}: no class listed")
    return names


def read_ucf101_list(path, classes: list[str]) -> list[dict]:
    """Rows ``{"video": "Class/v_Class_gXX_cYY.avi", "label": 0-based class index}`` of a train or test list.

    Train lists carry the 1-based class id (checked against the folder name); test lists have the path only.
    """
    index = {name: i for i, name in enumerate(classes)}
    rows = []
    for line_no, line in numbered_lines(path, "a UCF101 annotation file"):
        fields = line.split()
        folder = fields[0].split("/")[0] if "/" in fields[0] else None
        if len(fields) not in (1, 2) or folder is None:
            raise ValueError(f"{path}:{line_no}: expected 'ClassName/video.avi' optionally followed by a class id, "
                             f"got {line!r}")
        if folder not in index:
            raise ValueError(f"{path}:{line_no}: class folder {folder!r} is not in classInd.txt")
        label = index[folder]
        if len(fields) == 2:
            if not fields[1].isdigit() or int(fields[1]) - 1 != label:
                raise ValueError(f"{path}:{line_no}: expected class id {label + 1} for {folder}, got {fields[1]!r}")
        rows.append({"video": fields[0], "label": label})
    if not rows:
        raise ValueError(f"{path}: no video listed")
    return rows


def ucf101_class_text(name: str) -> str:
    """A class name as words for a text prompt: ``ApplyEyeMakeup -> "apply eye makeup"``, ``YoYo -> "yo yo"``."""
    return _CAMEL.sub(" ", name.replace("_", " ")).lower().strip()


def ucf101_zero_shot_splits(annotation_dir, splits=(1, 2, 3)) -> list[dict]:
    """The zero-shot evaluation splits: per official split N, ``testlist0N.txt`` over all classes of classInd.txt.

    Returns:
        per split ``{"name": "split1", "class_names": [...], "videos": [relative paths], "labels": [indices]}``.
    """
    folder = Path(annotation_dir)
    classes = read_ucf101_classes(folder / "classInd.txt")
    result = []
    for split in splits:
        if split not in (1, 2, 3):
            raise ValueError(f"UCF101 has test splits 1, 2 and 3, got {split!r}")
        rows = read_ucf101_list(folder / f"testlist0{split}.txt", classes)
        result.append({"name": f"split{split}", "class_names": list(classes),
                       "videos": [r["video"] for r in rows], "labels": [r["label"] for r in rows]})
    return result


__all__ = [
    "NUM_UCF101_CLASSES",
    "read_ucf101_classes",
    "read_ucf101_list",
    "ucf101_class_text",
    "ucf101_zero_shot_splits",
]
