"""Readers and writers for facial-landmark annotation formats (iBUG ``.pts``, WFLW lists)."""

from .ibug_pts import landmark_features, load_pts_folder, read_pts, tight_box, write_pts
from .wflw import ATTRIBUTES as WFLW_ATTRIBUTES
from .wflw import read_wflw_annotations, write_wflw_annotations

__all__ = [
    "WFLW_ATTRIBUTES",
    "landmark_features",
    "load_pts_folder",
    "read_pts",
    "read_wflw_annotations",
    "tight_box",
    "write_pts",
    "write_wflw_annotations",
]
