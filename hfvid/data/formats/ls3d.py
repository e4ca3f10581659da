"""LS3D-W / 300W-LP style 68-point annotations, one file per image.

* 300W-LP ``landmarks/<subset>/<name>_pts.mat`` (MATLAB v5, ``scipy.io.loadmat``): ``pts_2d`` (68 x 2, the 2D
  annotation) and ``pts_3d`` (68 x 2, the projected 3D-consistent points LS3D uses); image ``<subset>/<name>.jpg``.
* iBUG ``.pts`` next to the image (1-based in the file, 0-based here; see :mod:`.ibug_pts`).

LS3D-W itself ships a Torch7-serialised ``.t7`` per image. Those are **not read**: decoding them needs a Torch7
deserialiser (``torchfile``) and hfvid loads no serialised objects. Convert them once to ``.pts``, where you trust
the files (e.g. ``torchfile.load(path)`` -> ``hfvid.data.formats.ibug_pts.write_pts``); a folder with only ``.t7``
annotations raises a ``ValueError`` saying so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .ibug_pts import read_pts, tight_box

NUM_POINTS = 68
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
POINT_TYPES = {"2d": "pts_2d", "3d": "pts_3d"}


def read_pts_mat(path, point_type: str = "3d") -> np.ndarray:
    """A 300W-LP ``*_pts.mat`` -> (68, 2) float32 from ``pts_3d`` (``point_type="3d"``) or ``pts_2d``, as given."""
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    if point_type not in POINT_TYPES:
        raise ValueError(f"point_type must be one of {sorted(POINT_TYPES)}, got {point_type!r}")
    path = Path(path)
    try:
        data = loadmat(str(path))
    except (MatReadError, ValueError, NotImplementedError, OSError) as error:
        raise ValueError(f"{path}: expected a MATLAB v5 .mat file readable by scipy.io.loadmat ({error})") from None
    key = POINT_TYPES[point_type]
    if key not in data:
        raise ValueError(f"{path}: expected a {key!r} field (68 x 2), found "
                         f"{sorted(k for k in data if not k.startswith('__'))}")
    points = np.asarray(data[key], np.float64)
    if points.shape == (2, NUM_POINTS):
        points = points.T
    if points.shape != (NUM_POINTS, 2):
        raise ValueError(f"{path}: expected {key} of shape (68, 2), got {points.shape}")
    return points.astype(np.float32)


def _annotation_of(image: Path, relative: Path, landmark_dir: Path | None, point_type: str):
    """Landmarks of one image from ``<stem>.pts`` beside it or ``<landmark_dir>/<relative stem>_pts.mat``."""
    candidates = [image.with_suffix(".pts")]
    if landmark_dir is not None:
        stem = landmark_dir / relative.with_suffix("")
        candidates += [stem.parent / f"{stem.name}_pts.mat", stem.parent / f"{stem.name}.pts"]
    for candidate in candidates:
        if candidate.is_file():
            return read_pts(candidate) if candidate.suffix == ".pts" else read_pts_mat(candidate, point_type)
    return None


def load_ls3d_folder(image_dir, landmark_dir=None, point_type: str = "3d") -> list[dict]:
    """Records ``{"image": path, "landmarks" (68, 2), "box"}`` (tight box of the points) for every image under
    ``image_dir`` (recursive, sorted) with a ``.pts`` beside it or a 300W-LP ``_pts.mat`` under ``landmark_dir``
    (same relative path). Images without annotation are skipped; ``.t7``-only folders raise ``ValueError``."""
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise ValueError(f"image_dir {image_dir} is not a folder")
    landmark_dir = Path(landmark_dir) if landmark_dir is not None else None
    if landmark_dir is not None and not landmark_dir.is_dir():
        raise ValueError(f"landmark_dir {landmark_dir} is not a folder (expected 300W-LP's landmarks/)")
    records, torch7 = [], 0
    for image in sorted(p for p in image_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()):
        landmarks = _annotation_of(image, image.relative_to(image_dir), landmark_dir, point_type)
        if landmarks is None:
            torch7 += image.with_suffix(".t7").is_file()
            continue
        if landmarks.shape != (NUM_POINTS, 2):
            raise ValueError(f"{image}: expected 68 landmarks, got {len(landmarks)}")
        records.append({"image": str(image), "landmarks": landmarks, "box": tight_box(landmarks)})
    if not records:
        if torch7:
            raise ValueError(f"{image_dir}: {torch7} images have only Torch7 .t7 annotations, which hfvid does not "
                             "deserialise; convert them to .pts first (see hfvid.data.formats.ls3d)")
        raise ValueError(f"{image_dir}: no image with a .pts beside it or a _pts.mat under {landmark_dir}")
    return records


def write_pts_mat(path, points_2d, points_3d=None) -> Path:
    """Write a 300W-LP-style ``*_pts.mat`` (``pts_2d``, ``pts_3d``; 68 x 2 each)."""
    from scipy.io import savemat

    points_2d = np.asarray(points_2d, np.float64)
    points_3d = points_2d if points_3d is None else np.asarray(points_3d, np.float64)
    for name, points in (("points_2d", points_2d), ("points_3d", points_3d)):
        if points.shape != (NUM_POINTS, 2):
            raise ValueError(f"{name} must have shape (68, 2), got {points.shape}")
    savemat(str(path), {"pts_2d": points_2d, "pts_3d": points_3d})
    return Path(path)


__all__ = ["NUM_POINTS", "load_ls3d_folder", "read_pts_mat", "write_pts_mat"]
