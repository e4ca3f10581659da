"""LFW face-verification pairs (``pairs.txt``) and identity-folder face datasets (LFW, VGGFace2).

``pairs.txt``: the first line is ``<folds> <pairs per fold>`` (``10 300``); then, per fold, that many matched
lines ``name n1 n2`` followed by as many mismatched lines ``name1 n1 name2 n2`` (tab or space separated). Image
``n`` of ``name`` is ``<root>/<name>/<name>_<n:04d>.jpg``. Verification accuracy is the 10-fold protocol: the
threshold is chosen on 9 folds and applied to the held-out one.

Identity folders (VGGFace2 ``n000002/0001_01.jpg``, LFW ``Aaron_Eckhart/Aaron_Eckhart_0001.jpg``): one folder per
identity under a root; VGGFace2's ``bb_landmark/loose_bb_{train,test}.csv`` (``NAME_ID,X,Y,W,H``, ``NAME_ID`` =
``n000002/0001_01``) gives loose face boxes.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def lfw_image_path(root, name: str, number: int, suffix: str = ".jpg") -> Path:
    return Path(root) / name / f"{name}_{number:04d}{suffix}"


def read_lfw_pairs(path, image_root=None) -> list[dict]:
    """``pairs.txt`` -> ``[{"first", "second" (image paths), "same" (bool), "fold" (int)}, ...]`` in file order.

    Malformed lines, or a pair count that disagrees with the header, raise ``ValueError("<file>:<line>: ...")``.
    """
    path = Path(path)
    image_root = Path(image_root) if image_root is not None else path.parent / "lfw"
    lines = [(n, line.split()) for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if line.strip()]
    if not lines:
        raise ValueError(f"{path}:1: expected a header '<folds> <pairs per fold>', the file is empty")
    header_line, header = lines[0]
    try:
        folds, per_fold = (int(v) for v in header) if len(header) == 2 else (int(header[0]), None)
    except ValueError:
        raise ValueError(f"{path}:{header_line}: expected a header '<folds> <pairs per fold>', got {header}") from None
    if per_fold is None:  # pairsDevTrain.txt / pairsDevTest.txt: one number = matched (= mismatched) pairs
        folds, per_fold = 1, folds
    pairs = []
    for index, (line_no, fields) in enumerate(lines[1:]):
        where = f"{path}:{line_no}"
        fold, position = divmod(index, 2 * per_fold)
        same = position < per_fold
        try:
            if same:
                if len(fields) != 3:
                    raise ValueError
                first, second = (fields[0], int(fields[1])), (fields[0], int(fields[2]))
            else:
                if len(fields) != 4:
                    raise ValueError
                first, second = (fields[0], int(fields[1])), (fields[2], int(fields[3]))
        except ValueError:
            kind = "matched 'name n1 n2'" if same else "mismatched 'name1 n1 name2 n2'"
            raise ValueError(f"{where}: expected a {kind} line (pair {position + 1} of fold {fold + 1}), "
                             f"got {fields}") from None
        pairs.append({"first": str(lfw_image_path(image_root, *first)),
                      "second": str(lfw_image_path(image_root, *second)), "same": same, "fold": fold})
    if len(pairs) != 2 * folds * per_fold:
        raise ValueError(f"{path}:{lines[-1][0]}: header promises {folds} folds x {2 * per_fold} pairs = "
                         f"{2 * folds * per_fold} pairs, got {len(pairs)}")
    return pairs


def write_lfw_pairs(path, pairs, folds: int) -> Path:
    """Write pairs ``(name1, n1, name2, n2)`` (matched first within each fold) as an LFW ``pairs.txt``."""
    if len(pairs) % (2 * folds):
        raise ValueError(f"{len(pairs)} pairs do not split into {folds} folds of matched + mismatched halves")
    lines = [f"{folds}\t{len(pairs) // (2 * folds)}"]
    for name1, n1, name2, n2 in pairs:
        lines.append(f"{name1}\t{n1}\t{n2}" if name1 == name2 else f"{name1}\t{n1}\t{name2}\t{n2}")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Path(path)


def read_identity_folders(root, boxes_csv=None, max_per_identity: int | None = None) -> list[dict]:
    """Images of ``root/<identity>/*`` -> records ``{"image_path", "identity" (folder name), "box" (xyxy or None)}``.

    ``boxes_csv``: VGGFace2 ``loose_bb_*.csv`` (``NAME_ID,X,Y,W,H``); images without a row get ``box=None``.
    ``max_per_identity`` keeps the first images (sorted by name) of each identity.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: expected a folder with one sub-folder of face images per identity")
    boxes = read_vggface2_boxes(boxes_csv) if boxes_csv else {}
    records = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:max_per_identity]
        for image in images:
            box = boxes.get(f"{folder.name}/{image.stem}")
            records.append({"image_path": str(image), "identity": folder.name, "box": box})
    if not records:
        raise ValueError(f"{root}: no identity sub-folder holds images ({', '.join(IMAGE_SUFFIXES)})")
    return records


def read_vggface2_boxes(path) -> dict[str, np.ndarray]:
    """VGGFace2 ``loose_bb_*.csv`` -> ``{"n000002/0001_01": xyxy float32}``."""
    path = Path(path)
    boxes = {}
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != ["NAME_ID", "X", "Y", "W", "H"]:
            raise ValueError(f"{path}:1: expected the header NAME_ID,X,Y,W,H, got {header}")
        for line_no, row in enumerate(reader, start=2):
            try:
                name, (x, y, w, h) = row[0], (float(v) for v in row[1:5])
                if len(row) != 5 or w <= 0 or h <= 0:
                    raise ValueError
            except ValueError:
                raise ValueError(f"{path}:{line_no}: expected NAME_ID,X,Y,W,H with W, H > 0, got {row}") from None
            boxes[name] = np.array([x, y, x + w, y + h], np.float32)
    return boxes


__all__ = ["lfw_image_path", "read_identity_folders", "read_lfw_pairs", "read_vggface2_boxes", "write_lfw_pairs"]
