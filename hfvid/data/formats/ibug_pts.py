"""iBUG ``.pts`` landmark files (300W, Menpo, COFW-68, ...).

Files store 1-based coordinates (MATLAB convention); arrays in hfvid are 0-based with pixel ``k``
centred at ``k``, so reading subtracts 1 and writing adds 1.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

_HEADER = re.compile(r"^\s*([A-Za-z_]+)\s*:\s*(\S+)\s*$")


def read_pts(path) -> np.ndarray:
    """Read an iBUG ``.pts`` file into a 0-based ``(N, 2)`` float32 array.

    Tolerates varying spacing and tabs in the header and point lines. Malformed content raises
    ``ValueError("<path>:<line>: ...")`` naming what was expected.
    """
    path = Path(path)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    n_points = None
    points: list[tuple[float, float]] = []
    state = "header"  # header -> points -> done
    last_line = 0
    for line_no, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        last_line = line_no
        where = f"{path}:{line_no}"
        if state == "header":
            if line == "{":
                state = "points"
                continue
            match = _HEADER.match(line)
            if not match:
                raise ValueError(f"{where}: expected a header line 'key: value' or '{{', got {line!r}")
            key, value = match.group(1).lower(), match.group(2)
            if key == "n_points":
                try:
                    n_points = int(value)
                except ValueError:
                    raise ValueError(f"{where}: expected an integer after 'n_points:', got {value!r}") from None
        elif state == "points":
            if line == "}":
                state = "done"
                if n_points is not None and len(points) != n_points:
                    raise ValueError(f"{where}: header says n_points: {n_points} but {len(points)} points were read")
                continue
            fields = line.split()
            if len(fields) != 2:
                raise ValueError(f"{where}: expected 2 coordinates 'x y' or '}}', got {line!r}")
            try:
                points.append((float(fields[0]), float(fields[1])))
            except ValueError:
                raise ValueError(f"{where}: expected 2 numbers 'x y', got {line!r}") from None
        else:
            raise ValueError(f"{where}: unexpected content after the closing '}}': {line!r}")
    if state == "header":
        raise ValueError(f"{path}:{last_line}: missing opening '{{' before the points")
    if state == "points":
        raise ValueError(f"{path}:{last_line}: missing closing '}}' after the points")
    if n_points is None:
        raise ValueError(f"{path}:1: missing 'n_points:' header")
    if not points:
        raise ValueError(f"{path}:{last_line}: no points between '{{' and '}}'")
    return np.asarray(points, dtype=np.float32) - 1.0


def write_pts(path, points) -> None:
    """Write 0-based ``(N, 2)`` points as an iBUG ``.pts`` file (1-based coordinates)."""
    pts = np.asarray(points.detach().cpu() if hasattr(points, "detach") else points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points must have shape (N, 2), got {pts.shape}")
    body = "\n".join(f"{x + 1:.6f} {y + 1:.6f}" for x, y in pts)
    Path(path).write_text(f"version: 1\nn_points:  {len(pts)}\n{{\n{body}\n}}\n", encoding="utf-8")


def tight_box(points) -> list[float]:
    """Tight ``[x1, y1, x2, y2]`` box around ``(N, 2)`` points."""
    pts = np.asarray(points, dtype=np.float64)
    return [float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())]


def load_pts_folder(folder, extensions=(".jpg", ".jpeg", ".png", ".bmp"), recursive: bool = True):
    """Load every image with a same-stem ``.pts`` file in ``folder`` as a ``datasets.Dataset``.

    Columns: ``image`` (``Image()`` feature from the path), ``landmarks`` (N x 2, 0-based),
    ``box`` (tight xyxy box of the landmarks) and ``image_path``. Images without a ``.pts`` are
    skipped silently; ``.pts`` files without an image are skipped with a warning.
    """
    import datasets

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a directory")
    exts = {e.lower() for e in extensions}
    pattern = "**/*" if recursive else "*"
    files = sorted(p for p in folder.glob(pattern) if p.is_file())
    images = {p.with_suffix(""): p for p in files if p.suffix.lower() in exts}
    records = {"image": [], "landmarks": [], "box": [], "image_path": []}
    for pts_path in (p for p in files if p.suffix.lower() == ".pts"):
        image_path = images.get(pts_path.with_suffix(""))
        if image_path is None:
            logger.warning("%s: no image with extension %s next to it; skipped", pts_path, sorted(exts))
            continue
        landmarks = read_pts(pts_path)
        records["image"].append(str(image_path))
        records["landmarks"].append(landmarks.tolist())
        records["box"].append(tight_box(landmarks))
        records["image_path"].append(str(image_path))
    if not records["image"]:
        raise ValueError(f"{folder}: found no image with a matching .pts file")
    return datasets.Dataset.from_dict(records, features=landmark_features())


def landmark_features(extra: dict | None = None):
    """``datasets.Features`` shared by all landmark readers (plus optional ``extra`` columns)."""
    import datasets

    features = {
        "image": datasets.Image(),
        "landmarks": datasets.List(datasets.List(datasets.Value("float32"), length=2)),
        "box": datasets.List(datasets.Value("float32"), length=4),
        "image_path": datasets.Value("string"),
    }
    features.update(extra or {})
    return datasets.Features(features)


__all__ = ["landmark_features", "load_pts_folder", "read_pts", "tight_box", "write_pts"]
