"""Lazily read frame sequences: what a clip dataset slices instead of whole videos held in RAM.

* :class:`VideoFileFrames`: the frames of a video file as a read-only sequence; ``frames[a:b:s]`` seeks to frame
  ``a`` and decodes only up to ``b`` (:func:`hfvid.data.video.iter_frames`), so memory holds one clip, not a video.
* :class:`FaceCroppedFrames`: a view of any frame sequence whose slices come back cropped to the face: one square
  box per slice (a clip), from given per-frame boxes or a face detector on the clip's frames, so the crop does not
  jitter inside a clip (jitter would be fake motion for a temporal model).

Both are ``collections.abc.Sequence``s, so the datasets of :mod:`hfvid.data.affect_sequences` take them where they
take a list of arrays or image paths.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


class VideoFileFrames(Sequence):
    """The frames of a video file, decoded on access: ``len`` from the container, slices decoded window by window.

    Indices are frame positions at the stream's average rate (``VideoFrame.index``). A slice seeks to the keyframe
    before its first frame and stops decoding after its last, so an all-intra file (MJPEG) decodes just the window
    and a long-GOP file at most one GOP more.
    """

    def __init__(self, path):
        from .video import video_info

        self.path = Path(path)
        info = video_info(self.path)
        self.fps = info["fps"] or 1.0
        self.length = info["num_frames"] or sum(1 for _ in self._packets())

    def _packets(self):
        import av

        with av.open(str(self.path)) as container:
            for packet in container.demux(container.streams.video[0]):
                if packet.size:
                    yield packet

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index):
        if isinstance(index, slice):
            start, stop, step = index.indices(self.length)
            if step < 1:
                raise ValueError(f"VideoFileFrames slices need a positive step, got {step}")
            return self._window(start, stop)[::step] if start < stop else []
        if not -self.length <= index < self.length:
            raise IndexError(f"frame {index} out of range for {self.path.name} ({self.length} frames)")
        index %= self.length
        return self._window(index, index + 1)[0]

    def _window(self, start: int, stop: int) -> list[np.ndarray]:
        from .video import iter_frames

        images = []
        for frame in iter_frames(self.path, start=max(0.0, (start - 0.5) / self.fps)):
            if frame.index >= stop:
                break
            if frame.index >= start:
                images.append(frame.image)
        if len(images) != stop - start:
            raise ValueError(f"{self.path}: decoded {len(images)} frames for frames [{start}, {stop}) of a video the "
                             f"container says has {self.length} (a truncated file or variable frame rate?)")
        return images

    def __repr__(self):
        return f"VideoFileFrames({str(self.path)!r}, {self.length} frames at {self.fps:g} fps)"


def square_face_box(box, width: int, height: int, margin: float = 0.25) -> tuple[int, int, int, int]:
    """``[x1, y1, x2, y2]`` -> a square box around it, its side ``(1 + margin)`` times the longer side, shifted to
    fit inside the image where it can (and cut to the image where it is bigger)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    if not (x2 > x1 and y2 > y1):
        raise ValueError(f"a face box must be [x1, y1, x2, y2] with x2 > x1 and y2 > y1, got {list(box)}")
    side = min(max(x2 - x1, y2 - y1) * (1.0 + margin), float(width), float(height))
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left = int(round(min(max(cx - side / 2, 0.0), width - side)))
    top = int(round(min(max(cy - side / 2, 0.0), height - side)))
    side = int(round(side))
    return left, top, left + side, top + side


class FaceCroppedFrames(Sequence):
    """Frames of ``frames`` (arrays or image paths) cropped to one face box per slice.

    Args:
        frames: the underlying sequence (a list, or :class:`VideoFileFrames`).
        boxes: per-frame ``[x1, y1, x2, y2]`` boxes (``None`` where unknown), or one box for every frame; or None to
            detect.
        detector: with no ``boxes``, what :func:`hfvid.modules.face_detection.resolve_face_detector` takes
            (``"mtcnn"``, a callable ``image -> detections``, ...), run on the clip's middle frame first, then on
            the others, until a face is found; the best-scoring face is used.
        margin: extra context around the face box (fraction of its longer side).

    A clip with no face anywhere is kept whole (counted in ``num_uncropped``), so a detector miss never drops data.
    """

    def __init__(self, frames, boxes=None, detector=None, margin: float = 0.25):
        if boxes is None and detector is None:
            raise ValueError("FaceCroppedFrames needs boxes or a detector")
        if boxes is not None and len(boxes) == 4 and all(np.isscalar(v) for v in boxes):
            boxes = [boxes] * len(frames)
        if boxes is not None and len(boxes) != len(frames):
            raise ValueError(f"boxes has {len(boxes)} entries for {len(frames)} frames")
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        self.frames, self.boxes, self.margin = frames, boxes, margin
        self.detector = None
        if boxes is None:
            from ..modules.face_detection import resolve_face_detector

            self.detector = resolve_face_detector(detector, max_faces=1)
        self.num_uncropped = 0

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index):
        if not isinstance(index, slice):
            index = range(len(self.frames))[index]  # IndexError out of range; negative counts from the end
            return self[index : index + 1][0]
        from .affect_sequences import load_frame

        positions = range(*index.indices(len(self.frames)))
        images = [load_frame(f) for f in self.frames[index]]
        box = self._clip_box(images, list(positions))
        if box is None:
            self.num_uncropped += 1
            return images
        height, width = images[0].shape[:2]
        x1, y1, x2, y2 = square_face_box(box, width, height, self.margin)
        return [np.ascontiguousarray(image[y1:y2, x1:x2]) for image in images]

    def _clip_box(self, images, positions):
        middle = len(images) // 2
        order = sorted(range(len(images)), key=lambda i: abs(i - middle))
        for i in order:
            if self.boxes is not None:
                box = self.boxes[positions[i]]
            else:
                faces = self.detector(images[i])
                box = faces[0]["box"] if faces else None
            if box is not None:
                return box
        return None


def load_face_boxes(path) -> dict:
    """``{video_id: [x1, y1, x2, y2] | [[x1, y1, x2, y2] | null per frame]}`` from a JSON file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"face boxes file {str(path)!r} not found (expected JSON {{video_id: boxes}})")
    boxes = json.loads(path.read_text())
    if not isinstance(boxes, dict):
        raise ValueError(f"{path}: expected a JSON object {{video_id: box or per-frame boxes}}, got "
                         f"{type(boxes).__name__}")
    return boxes


def face_cropped_sequences(sequences: list[dict], boxes: dict | None = None, detector=None,
                           margin: float = 0.25) -> list[dict]:
    """``sequences`` with ``frames`` wrapped in :class:`FaceCroppedFrames` (given ``boxes`` per video id, else the
    ``detector``); a video missing from ``boxes`` raises ``ValueError`` naming it."""
    if boxes is None:
        from ..modules.face_detection import resolve_face_detector

        detector = resolve_face_detector(detector, max_faces=1)  # once: every video shares the detector
    cropped = []
    for seq in sequences:
        video_boxes = None
        if boxes is not None:
            if seq["video_id"] not in boxes:
                raise ValueError(f"the face boxes have no entry for video {seq['video_id']!r}")
            video_boxes = boxes[seq["video_id"]]
        frames = FaceCroppedFrames(seq["frames"], video_boxes, None if boxes is not None else detector, margin)
        cropped.append({**seq, "frames": frames})
    return cropped


__all__ = ["FaceCroppedFrames", "VideoFileFrames", "face_cropped_sequences", "load_face_boxes", "square_face_box"]
