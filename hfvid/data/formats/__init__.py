"""Readers and writers of the real datasets' annotation formats, one module per format; errors name ``file:line``.

| module | format | used by |
|---|---|---|
| ``ibug_pts``, ``wflw``, ``cofw``, ``aflw2000`` | 300W/Menpo ``.pts``, WFLW lists, COFW ``.mat``, AFLW2000-3D ``.mat`` | SH-FAN, face benchmark |
| ``celeba``, ``aflw``, ``ls3d``, ``landmark_json`` | CelebA/MAFL lists, ``AFLWinfo_release.mat``, 300W-LP ``_pts.mat``, JSON | Keypoints-to-Landmarks |
| ``w300lp``, ``aflw_csv`` (+ ``cofw``, ``aflw``) | the ``300W_LP/`` root, HRNet's AFLW CSV lists (19/21 points) | SH-FAN |
| ``disfa``, ``bp4d``, ``affwild2``, ``sewa`` (+ ``affect_labels``) | per-frame AU intensity / valence-arousal labels | Affective Processes, Contrastive AU, face benchmark |
| ``affectnet``, ``lfw``, ``ijb`` | AffectNet CSVs, LFW pairs / identity folders, IJB-B/C protocols | face benchmark |
| ``ava``, ``charades`` | AVA v2.x CSVs and label maps, Charades CSVs | BMViT, MeMSVD |
| ``ucf101_24``, ``jhmdb`` (+ ``action_tubes``) | UCF101-24 ``finalAnnots.mat`` tubes, JHMDB-21 puppet masks and splits | BMViT |
| ``ucf101``, ``hmdb51``, ``kinetics`` | action-recognition lists and zero-shot class splits | REST |
| ``coop`` | CoOp ``split_zhou_*.json``, FGVC-Aircraft, ImageNet class names | Bayesian prompt learning |
| ``text_lines``, ``affect_labels`` | shared line parsing with ``file:line`` errors | the readers above |

Import from the module (``from hfvid.data.formats.disfa import load_disfa_labels``); the landmark readers are also
re-exported here.
"""

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
