"""UCF101-24 spatio-temporal annotations: the corrected tubes of Singh et al. (``finalAnnots.mat``).

Layout read (github.com/gurkirt/corrected-UCF101-Annots): ``finalAnnots.mat`` (also ``trainAnnot.mat``,
``testAnnot.mat``) holds a struct array ``annot`` with per video ``name`` (``"Basketball/v_Basketball_g01_c01"``),
``num_imgs`` and ``tubes``; each tube has ``sf``/``ef`` (first/last 1-based frame), ``class`` (1..24, the order of
:data:`UCF101_24_CLASSES`) and ``boxes`` (``ef - sf + 1`` rows of 1-based ``x, y, w, h`` pixels). It is read with
``scipy.io.loadmat``. The same release's ``pyannot.pkl`` / ``UCF101v2-GT.pkl`` are pickles and are NOT read (loading a
pickle runs code). Split 1's test videos: ``testlist01.txt`` (one video name a line); the rest are training videos.
Frames are 320x240 (``height``/``width`` arguments otherwise).

Output: the video annotations of :mod:`hfvid.data.formats.action_tubes` (boxes as 0-based ``x1, y1, x2, y2``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

UCF101_24_CLASSES = (
    "Basketball", "BasketballDunk", "Biking", "CliffDiving", "CricketBowling", "Diving", "Fencing",
    "FloorGymnastics", "GolfSwing", "HorseRiding", "IceDancing", "LongJump", "PoleVault", "RopeClimbing",
    "SalsaSpin", "SkateBoarding", "Skiing", "Skijet", "SoccerJuggling", "Surfing", "TennisSwing",
    "TrampolineJumping", "VolleyballSpiking", "WalkingWithDog",
)


def _field(struct, name: str, where: str):
    if not hasattr(struct, name):
        raise ValueError(f"{where}: missing field {name!r} (fields: {getattr(struct, '_fieldnames', None)})")
    return getattr(struct, name)


def read_ucf101_24_mat(path, videos=None, height: int = 240, width: int = 320) -> list[dict]:
    """Video annotations of a ``finalAnnots.mat``-style file; ``videos`` (names) keeps only those, in file order."""
    from scipy.io import loadmat

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"UCF101-24 annotation file {path} not found (expected finalAnnots.mat)")
    data = loadmat(path, squeeze_me=True, struct_as_record=False)
    if "annot" not in data:
        raise ValueError(f"{path}: expected a struct array 'annot', found {sorted(k for k in data if k[0] != '_')}")
    wanted = None if videos is None else {str(v) for v in videos}
    result = []
    for number, entry in enumerate(np.atleast_1d(data["annot"]), start=1):
        where = f"{path}: annot({number})"
        name = str(_field(entry, "name", where))
        if wanted is not None and name not in wanted:
            continue
        tubes = []
        for t, tube in enumerate(np.atleast_1d(_field(entry, "tubes", where)), start=1):
            first, last = int(_field(tube, "sf", where)), int(_field(tube, "ef", where))
            boxes = np.asarray(_field(tube, "boxes", where), np.float32).reshape(-1, 4)
            if len(boxes) != last - first + 1:
                raise ValueError(f"{where}.tubes({t}): {len(boxes)} boxes for frames {first}..{last}")
            action = int(_field(tube, "class", where))
            if not 1 <= action <= len(UCF101_24_CLASSES):
                raise ValueError(f"{where}.tubes({t}): class {action} is outside 1..{len(UCF101_24_CLASSES)}")
            corners = np.concatenate([boxes[:, :2] - 1, boxes[:, :2] - 1 + boxes[:, 2:]], axis=1)
            tubes.append({"action_id": action, "frames": np.arange(first, last + 1), "boxes": corners})
        result.append({"video_id": name, "num_frames": int(_field(entry, "num_imgs", where)), "height": height,
                       "width": width, "tubes": tubes})
    if wanted is not None and len(result) != len(wanted):
        missing = sorted(wanted - {v["video_id"] for v in result})
        raise ValueError(f"{path}: {len(missing)} listed videos have no annotation, e.g. {missing[:3]}")
    return result


def read_video_list(path) -> list[str]:
    """Video names of a split list (``testlist01.txt``): one per line, a trailing ``.avi`` and label column dropped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"split list {path} not found")
    names = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            names.append(line.split()[0].removesuffix(".avi"))
    return names


def read_ucf101_24(annotations, test_list, subset: str = "train", height: int = 240, width: int = 320):
    """The ``subset`` (``"train"`` or ``"test"``) of split 1: test videos are those in ``test_list``."""
    if subset not in ("train", "test"):
        raise ValueError(f"subset must be 'train' or 'test', got {subset!r}")
    test = set(read_video_list(test_list))
    videos = read_ucf101_24_mat(annotations, height=height, width=width)
    return [v for v in videos if (v["video_id"] in test) == (subset == "test")]


__all__ = ["UCF101_24_CLASSES", "read_ucf101_24", "read_ucf101_24_mat", "read_video_list"]
