"""300VW (300 Videos in the Wild) in its released layout: ``<root>/<video_id>/vid.avi`` + ``annot/<n:06d>.pts``.

Annotation ``n`` (1-based, 68 iBUG points, 1-based pixel coordinates) belongs to frame ``n - 1`` of ``vid.avi``.
Training needs random access to frames, so a video is decoded once, streaming, into
``<frames_dir>/<video_id>/<n:06d>.jpg`` (numbered like the annotations: the hfvid frame-folder convention, read
back through :mod:`hfvid.data.frame_folders`); later reads reuse those files. Frames without an annotation are
left out; an annotation past the last decoded frame raises ``ValueError``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..frame_folders import frames_for_labels, list_frame_files
from .ibug_pts import read_pts

ANNOTATION_FIRST_INDEX = 1  # annot/000001.pts is frame 0


def _annotations(folder: Path) -> dict[int, Path]:
    """``{0-based frame: .pts path}`` of ``<folder>/annot``."""
    annot = folder / "annot"
    if not annot.is_dir():
        raise FileNotFoundError(f"{folder}: no annot/ folder (300VW layout: <video_id>/vid.avi + annot/000001.pts)")
    found = {}
    for path in annot.glob("*.pts"):
        if not path.stem.isdigit() or int(path.stem) < ANNOTATION_FIRST_INDEX:
            raise ValueError(f"{path}: 300VW annotations are named by their 1-based frame number, e.g. 000001.pts")
        found[int(path.stem) - ANNOTATION_FIRST_INDEX] = path
    if not found:
        raise ValueError(f"{annot}: no .pts annotations")
    return found


def extract_frames(video_path, out_dir, quality: int = 95) -> Path:
    """Decode ``video_path`` frame by frame into ``out_dir/<n:06d>.jpg`` (n = frame + 1); kept if already there."""
    from PIL import Image

    from ..video import iter_frames

    out_dir = Path(out_dir)
    done = out_dir / ".complete"
    if done.is_file():
        return out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    for frame in iter_frames(str(video_path)):
        Image.fromarray(frame.image).save(out_dir / f"{frame.index + 1:06d}.jpg", quality=quality)
    done.write_text(str(video_path))
    return out_dir


def read_300vw_video(folder, frames_dir=None) -> dict:
    """One 300VW video folder -> ``{"video_id", "images": [jpg paths], "landmarks": (T, 68, 2) 0-based px,
    "frames": (T,) 0-based frame numbers}`` over its annotated frames, decoding ``vid.avi`` once into
    ``<frames_dir or folder/frames>/<video_id>/``."""
    folder = Path(folder)
    video = folder / "vid.avi"
    if not video.is_file():
        raise FileNotFoundError(f"{folder}: no vid.avi (300VW layout: <video_id>/vid.avi + annot/000001.pts)")
    annotations = _annotations(folder)
    out_dir = extract_frames(video, Path(frames_dir or folder / "frames") / folder.name)
    frames = sorted(annotations)
    images = frames_for_labels(out_dir, frames, first_frame_index=1)
    missing = [f for f, image in zip(frames, images) if image is None]
    if missing:
        decoded = len(list_frame_files(out_dir))
        raise ValueError(f"{annotations[missing[0]]}: annotates frame {missing[0] + 1} but {video} decodes to "
                         f"{decoded} frames")
    landmarks = np.stack([read_pts(annotations[f]) for f in frames]).astype(np.float32)
    return {"video_id": folder.name, "images": images, "landmarks": landmarks, "frames": np.asarray(frames)}


def is_300vw_video(folder) -> bool:
    """Whether ``folder`` has the 300VW layout (``vid.avi`` and ``annot/``)."""
    return (Path(folder) / "vid.avi").is_file() and (Path(folder) / "annot").is_dir()


def load_300vw(root, frames_dir=None, videos=None) -> list[dict]:
    """Every 300VW video folder under ``root`` (or the named ``videos``), see :func:`read_300vw_video`."""
    root = Path(root)
    folders = [root / v for v in videos] if videos is not None else sorted(p for p in root.iterdir() if p.is_dir())
    found = [read_300vw_video(f, frames_dir) for f in folders if videos is not None or is_300vw_video(f)]
    if not found:
        raise ValueError(f"{root}: no 300VW video folders (<video_id>/vid.avi + annot/000001.pts)")
    return found


__all__ = ["extract_frames", "is_300vw_video", "load_300vw", "read_300vw_video"]
