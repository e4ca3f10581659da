"""DISFA AU-intensity labels: ``ActionUnit_Labels/SN001/SN001_au1.txt``, lines ``frame,intensity``.

One file per subject and AU (12 AUs: 1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26), 1-based frame numbers, integer
intensities 0-5, 4,845 frames per video (20 fps). The subject-independent 3-fold split of ``contrastive_au.md``
4.1 is :data:`DISFA_FOLDS` (the ACCV/CVPR papers' own assignment is unverified).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

from .affect_labels import labels_dataset, parse_frame_value_lines

logger = logging.getLogger(__name__)

DISFA_AUS = (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)
DISFA_AU_NAMES = [f"AU{au:02d}" for au in DISFA_AUS]
DISFA_FOLDS = (
    ("SN002", "SN010", "SN001", "SN026", "SN027", "SN032", "SN030", "SN009", "SN016"),
    ("SN013", "SN018", "SN011", "SN028", "SN012", "SN006", "SN031", "SN021", "SN024"),
    ("SN003", "SN029", "SN023", "SN025", "SN008", "SN005", "SN007", "SN017", "SN004"),
)


def read_disfa_subject(folder, aus=DISFA_AUS, num_frames: int | None = None, strict: bool = True) -> list[dict]:
    """One subject folder (``.../ActionUnit_Labels/SN001``) -> canonical rows (one per frame).

    Every AU file must have the same frames; with ``strict`` a file of another length raises a ``ValueError``
    naming it and its last line, otherwise the frames common to all files are kept (logged; SN010 has 4,844
    lines in some copies). ``num_frames`` (e.g. 4845) makes a different count an error too.
    """
    folder = Path(folder)
    subject = folder.name
    per_au = []
    for au in aus:
        matches = [p for p in folder.iterdir() if p.name.lower() == f"{subject.lower()}_au{au}.txt"]
        if not matches:
            raise ValueError(f"{folder}: missing label file {subject}_au{au}.txt")
        path = matches[0]
        values = parse_frame_value_lines(path, (0, 5))
        if num_frames is not None and len(values) != num_frames:
            raise ValueError(f"{path}:{len(values)}: expected {num_frames} lines (one per frame), got {len(values)}")
        per_au.append((path, values))
    reference_path, reference = per_au[0]
    common = set(reference)
    for path, values in per_au[1:]:
        if set(values) != set(reference):
            message = (f"{path}:{len(values)}: has {len(values)} frames but {reference_path.name} has "
                       f"{len(reference)}; every AU file of a subject must cover the same frames")
            if strict:
                raise ValueError(message)
            logger.warning(message + " (keeping the common frames)")
        common &= set(values)
    return [{"video_id": subject, "subject_id": subject, "frame": frame,
             "labels": [values.get(frame, math.nan) for _, values in per_au]} for frame in sorted(common)]


def load_disfa_labels(root, subjects=None, aus=DISFA_AUS, num_frames: int | None = None, strict: bool = True):
    """``root`` = the ``ActionUnit_Labels`` folder (or the DISFA root holding it) -> canonical ``Dataset``."""
    root = Path(root)
    if (root / "ActionUnit_Labels").is_dir():
        root = root / "ActionUnit_Labels"
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if subjects is not None:
        wanted = set(subjects)
        folders = [p for p in folders if p.name in wanted]
    if not folders:
        raise ValueError(f"{root}: no DISFA subject folders (expected ActionUnit_Labels/SN001/SN001_au1.txt ...)")
    rows = [row for folder in folders for row in read_disfa_subject(folder, aus, num_frames, strict)]
    return labels_dataset(rows)


def write_disfa_subject(folder, subject: str, labels, aus=DISFA_AUS) -> Path:
    """Write ``labels (T, len(aus))`` integer intensities as DISFA files (tests, synthetic exports)."""
    folder = Path(folder) / subject
    folder.mkdir(parents=True, exist_ok=True)
    for k, au in enumerate(aus):
        lines = [f"{t + 1},{int(round(float(row[k])))}" for t, row in enumerate(labels)]
        (folder / f"{subject}_au{au}.txt").write_text("\n".join(lines) + "\n")
    return folder


__all__ = ["DISFA_AUS", "DISFA_AU_NAMES", "DISFA_FOLDS", "load_disfa_labels", "read_disfa_subject",
           "write_disfa_subject"]
