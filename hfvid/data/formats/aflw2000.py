"""AFLW2000-3D and 300W-LP: one MATLAB ``.mat`` per image (``image00002.jpg`` + ``image00002.mat``).

AFLW2000-3D files hold ``pt3d_68`` (3 x 68: x, y in image pixels, z depth), ``Pose_Para`` (1 x 7: pitch, yaw,
roll in radians, tx, ty, tz, scale), ``Shape_Para`` and ``Exp_Para``; 300W-LP files hold ``pt2d`` (2 x 68) instead
of ``pt3d_68`` (plus the same parameters). Read with ``scipy.io.loadmat`` (no pickle). Coordinates are used as given
(3DDFA-style evaluation code does the same; whether they are 0- or 1-based is not documented [reading]).
The benchmark's NME normaliser is the box of the 68 ground-truth x, y points; results are also binned by |yaw|.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
POSE_NAMES = ("pitch", "yaw", "roll", "tx", "ty", "tz", "scale")


def read_aflw2000_mat(path) -> dict:
    """One annotation file -> ``{"landmarks_3d" (68, 3) float32, "pose" (7,) float64, "yaw" (degrees)}``.

    ``landmarks_3d`` comes from ``pt3d_68``; a 300W-LP file with only ``pt2d`` gives z = NaN (no depth given).
    Missing or mis-shaped fields raise ``ValueError`` naming the file and the field.
    """
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    path = Path(path)
    try:
        data = loadmat(str(path))
    except (MatReadError, ValueError, NotImplementedError, OSError) as error:
        raise ValueError(f"{path}: expected a MATLAB v5 .mat file readable by scipy.io.loadmat ({error})") from None
    if "pt3d_68" in data:
        points = np.asarray(data["pt3d_68"], np.float64)
        if points.shape == (68, 3):
            points = points.T
        if points.shape != (3, 68):
            raise ValueError(f"{path}: expected pt3d_68 of shape (3, 68), got {points.shape}")
        landmarks = points.T
    elif "pt2d" in data:
        points = np.asarray(data["pt2d"], np.float64)
        if points.shape == (68, 2):
            points = points.T
        if points.shape != (2, 68):
            raise ValueError(f"{path}: expected pt2d of shape (2, 68), got {points.shape}")
        landmarks = np.concatenate([points.T, np.full((68, 1), np.nan)], 1)
    else:
        raise ValueError(f"{path}: expected a 'pt3d_68' (AFLW2000-3D) or 'pt2d' (300W-LP) field, found "
                         f"{sorted(k for k in data if not k.startswith('__'))}")
    if "Pose_Para" not in data:
        raise ValueError(f"{path}: expected a 'Pose_Para' field (1 x 7: pitch, yaw, roll, tx, ty, tz, scale)")
    pose = np.asarray(data["Pose_Para"], np.float64).reshape(-1)
    if pose.size != len(POSE_NAMES):
        raise ValueError(f"{path}: expected Pose_Para with 7 values {POSE_NAMES}, got {pose.size}")
    return {"landmarks_3d": landmarks.astype(np.float32), "pose": pose, "yaw": float(np.degrees(pose[1]))}


def load_aflw2000_folder(folder) -> list[dict]:
    """Every ``<name>.mat`` with a ``<name>.jpg`` (or .png) beside it -> records ``{"image_path", "landmarks_3d",
    "pose", "yaw", "box"}`` sorted by name; ``box`` is the tight xyxy box of the 68 x, y points."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: expected a folder of AFLW2000-3D / 300W-LP .mat + image files")
    records = []
    for mat in sorted(folder.glob("*.mat")):
        images = [mat.with_suffix(s) for s in IMAGE_SUFFIXES if mat.with_suffix(s).is_file()]
        if not images:
            continue  # e.g. 300W-LP's landmark-only files
        record = read_aflw2000_mat(mat)
        xy = record["landmarks_3d"][:, :2]
        record.update(image_path=str(images[0]), box=np.array([*xy.min(0), *xy.max(0)], np.float32))
        records.append(record)
    if not records:
        raise ValueError(f"{folder}: no .mat file with a matching {'/'.join(IMAGE_SUFFIXES)} image")
    return records


def write_aflw2000_mat(path, landmarks_3d, pose) -> Path:
    """Write an AFLW2000-3D-style ``.mat`` (``pt3d_68`` 3 x 68, ``Pose_Para`` 1 x 7) with ``scipy.io.savemat``."""
    from scipy.io import savemat

    points = np.asarray(landmarks_3d, np.float64)
    if points.shape != (68, 3):
        raise ValueError(f"landmarks_3d must have shape (68, 3), got {points.shape}")
    savemat(str(path), {"pt3d_68": points.T, "Pose_Para": np.asarray(pose, np.float64).reshape(1, 7)})
    return Path(path)


__all__ = ["POSE_NAMES", "load_aflw2000_folder", "read_aflw2000_mat", "write_aflw2000_mat"]
