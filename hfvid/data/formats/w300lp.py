"""300W-LP (Zhu et al., CVPR 2016: 300W faces re-rendered at large poses), the 68-point training set for 300W/AFLW.

The distributed root ``300W_LP/`` holds:

* ``AFW/``, ``HELEN/``, ``IBUG/``, ``LFPW/``: ``<name>.jpg`` + ``<name>.mat`` (``pt2d`` 2 x 68, ``Pose_Para`` 1 x 7,
  shape/expression parameters), and the mirrored copies in ``<subset>_Flip/``;
* ``landmarks/<subset>/<name>_pts.mat``: ``pts_2d`` and ``pts_3d`` (68 x 2 each), the 2D and the 3D-consistent
  (projected) annotations of the non-mirrored images, the ones FAN-style trainers use.

Both ``.mat`` kinds are MATLAB v5, read with ``scipy.io.loadmat`` (no pickle) by the existing readers
(:func:`hfvid.data.formats.ls3d.read_pts_mat`, :func:`hfvid.data.formats.aflw2000.read_aflw2000_mat`); this module
only walks the layout. Coordinates are used as given, like the other 300W-LP / AFLW2000-3D readers [reading].
Mirrored copies: whether their ``pt2d`` keeps the original point order is not documented, so a ``_Flip`` folder
whose faces mostly have the subject's right eye (points 36-41) on the image *right* is re-ordered with the 68-point
mirror table, making index i the same facial point in every record.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...modules.heatmaps import IBUG68_FLIP_PERMUTATION
from .aflw2000 import read_aflw2000_mat
from .ibug_pts import tight_box
from .ls3d import read_pts_mat

SUBSETS = ("AFW", "HELEN", "IBUG", "LFPW")
ANNOTATIONS = ("pts_2d", "pts_3d", "pt2d")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _mirrored_order(landmarks: list[np.ndarray]) -> bool:
    """True when most faces have the subject's right eye (36-41) right of the left eye (42-47) in the image."""
    swapped = [points[36:42, 0].mean() > points[42:48, 0].mean() for points in landmarks]
    return bool(np.mean(swapped) > 0.5) if swapped else False


def load_300w_lp(root, annotation: str = "pts_2d", subsets=SUBSETS, include_flipped: bool = False) -> list[dict]:
    """Records ``{"image": path, "landmarks" (68, 2) float32, "box" (tight box of the points), "subset"}``.

    ``annotation``: ``"pts_2d"`` / ``"pts_3d"`` read ``landmarks/<subset>/<name>_pts.mat`` (non-mirrored images
    only), ``"pt2d"`` reads the ``<name>.mat`` beside each image (and, with ``include_flipped``, the
    ``<subset>_Flip`` copies; records then also carry ``"yaw"`` in degrees). Images without an annotation file are
    skipped; a root without any raises ``ValueError``.
    """
    root = Path(root)
    if annotation not in ANNOTATIONS:
        raise ValueError(f"annotation must be one of {ANNOTATIONS}, got {annotation!r}")
    if not root.is_dir():
        raise ValueError(f"root {root} is not a folder (expected 300W_LP/ with {', '.join(SUBSETS)}, landmarks/)")
    if include_flipped and annotation != "pt2d":
        raise ValueError(f"include_flipped needs annotation='pt2d': landmarks/ has no {annotation} for the "
                         "_Flip copies")
    unknown = [s for s in subsets if s not in SUBSETS]
    if unknown:
        raise ValueError(f"subsets must be among {SUBSETS}, got {unknown}")
    folders = [(s, root / s) for s in subsets] + ([(f"{s}_Flip", root / f"{s}_Flip") for s in subsets]
                                                  if include_flipped else [])
    records = []
    for subset, folder in folders:
        if not folder.is_dir():
            continue
        found = []
        for image in _images(folder):
            if annotation == "pt2d":
                mat = image.with_suffix(".mat")
                if not mat.is_file():
                    continue
                face = read_aflw2000_mat(mat)
                found.append({"image": str(image), "landmarks": face["landmarks_3d"][:, :2], "yaw": face["yaw"]})
            else:
                mat = root / "landmarks" / subset / f"{image.stem}_pts.mat"
                if mat.is_file():
                    found.append({"image": str(image), "landmarks": read_pts_mat(mat, annotation[-2:])})
        if subset.endswith("_Flip") and _mirrored_order([r["landmarks"] for r in found]):
            for record in found:
                record["landmarks"] = record["landmarks"][IBUG68_FLIP_PERMUTATION]
        for record in found:
            record.update(box=tight_box(record["landmarks"]), subset=subset)
        records += found
    if not records:
        where = "beside the images" if annotation == "pt2d" else f"under {root / 'landmarks'}"
        raise ValueError(f"{root}: no image of {list(subsets)} has a 300W-LP {annotation} annotation {where}")
    return records


__all__ = ["ANNOTATIONS", "SUBSETS", "load_300w_lp"]
