"""BP4D-Spontaneous / FERA2015 AU-intensity labels: ``<root>/AU06/F001_T1_AU06.csv``, lines ``frame,intensity``.

Headerless CSVs, one per (subject, task, AU); intensities 0-5, **9 = not coded** (-> NaN, never 0). The root
folder's name differs between releases, so files are found by the glob ``**/AU??/*_T?_AU??.csv``. The FERA2015
subject split is :data:`FERA2015_TRAIN` / :data:`FERA2015_DEV`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from .affect_labels import labels_dataset, parse_frame_value_lines

FERA2015_AUS = (6, 10, 12, 14, 17)
FERA2015_AU_NAMES = [f"AU{au:02d}" for au in FERA2015_AUS]
FERA2015_TRAIN = ("F001 F003 F005 F007 F009 F011 F013 F015 F017 F019 F021 F023 M001 M003 M005 M007 M009 M011 "
                  "M013 M015 M017").split()
FERA2015_DEV = ("F002 F004 F006 F008 F010 F012 F014 F016 F018 F020 F022 M002 M004 M006 M008 M010 M012 M014 "
                "M016 M018").split()
_NAME = re.compile(r"^([A-Za-z]\d+)_(T\d+)_AU(\d+)\.csv$", re.IGNORECASE)


def load_bp4d_labels(root, aus=FERA2015_AUS, subjects=None):
    """All intensity CSVs under ``root`` -> canonical ``Dataset`` (``video_id`` = ``F001_T1``).

    A video's rows are the union of the frames of its AU files; an AU without a line for a frame is NaN.
    Values other than 0-5 or 9 raise ``ValueError("<file>:<line>: ...")``.
    """
    root = Path(root)
    wanted_aus = {int(a) for a in aus}
    videos: dict[tuple[str, str], dict[int, dict[int, float]]] = {}
    for path in sorted(root.glob("**/AU??/*.csv")):
        match = _NAME.match(path.name)
        if match is None:
            continue
        subject, task, au = match.group(1).upper(), match.group(2).upper(), int(match.group(3))
        if au not in wanted_aus or (subjects is not None and subject not in subjects):
            continue
        values = parse_frame_value_lines(path, (0, 5), missing=(9.0,))
        videos.setdefault((subject, task), {})[au] = values
    if not videos:
        raise ValueError(f"{root}: no BP4D intensity files (expected <root>/AU06/F001_T1_AU06.csv ...)")
    rows = []
    for (subject, task), per_au in videos.items():
        frames = sorted(set().union(*per_au.values()))
        for frame in frames:
            labels = [per_au.get(au, {}).get(frame, math.nan) for au in aus]
            rows.append({"video_id": f"{subject}_{task}", "subject_id": subject, "frame": frame, "labels": labels})
    return labels_dataset(rows)


def write_bp4d_video(root, subject: str, task: str, labels, aus=FERA2015_AUS, first_frame: int = 1) -> Path:
    """Write ``labels (T, len(aus))`` (NaN -> 9) as FERA2015 intensity CSVs under ``root/AUxx/``."""
    root = Path(root)
    for k, au in enumerate(aus):
        folder = root / f"AU{au:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        lines = [f"{first_frame + t},{9 if math.isnan(float(row[k])) else int(round(float(row[k])))}"
                 for t, row in enumerate(labels)]
        (folder / f"{subject}_{task}_AU{au:02d}.csv").write_text("\n".join(lines) + "\n")
    return root


__all__ = ["FERA2015_AUS", "FERA2015_AU_NAMES", "FERA2015_DEV", "FERA2015_TRAIN", "load_bp4d_labels",
           "write_bp4d_video"]
