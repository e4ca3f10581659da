"""The one reader of folders of extracted video frames, with the frame-numbering convention declared.

Label tables index frames 0-based (``hfvid.data.formats.affect_labels``). Frame extractions number their files from
1 (ffmpeg's ``%05d.jpg``, Aff-Wild2's ``cropped_aligned``) or from 0. ``first_frame_index`` says which: the file
numbered ``n`` (the digits ending its stem, any zero padding) holds frame ``n - first_frame_index``. The hfvid
convention, and the default everywhere, is 1. A wrong convention would shift every label by one frame without a
trace, so the reader refuses a file numbered below ``first_frame_index``, and :func:`frames_for_labels` refuses a
folder whose files match the labelled frames better after a shift by one. (An extraction that covers more frames
than the labels on both ends cannot be told apart: declare its convention.)
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
FIRST_FRAME_INDEX = 1
_NUMBER = re.compile(r"(\d+)$")

logger = logging.getLogger(__name__)


def list_frame_files(folder) -> list[tuple[int, Path]]:
    """``[(file number, path)]`` of the images in ``folder`` whose stem ends in digits, sorted by number.

    Two files with the same number (``00001.jpg`` and ``1.png``) raise ``ValueError``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"frame folder {folder} does not exist (expected <folder>/<frame number>.jpg)")
    found: dict[int, Path] = {}
    for path in folder.iterdir():
        match = _NUMBER.search(path.stem)
        if match is None or path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        number = int(match.group(1))
        if number in found:
            raise ValueError(f"{folder}: {found[number].name} and {path.name} both hold frame number {number}")
        found[number] = path
    return sorted(found.items())


def read_frame_folder(folder, first_frame_index: int = FIRST_FRAME_INDEX) -> dict[int, Path]:
    """``{0-based frame: image path}`` of a frame folder numbered from ``first_frame_index`` (0 or 1)."""
    if first_frame_index not in (0, 1):
        raise ValueError(f"first_frame_index must be 0 or 1 (the number of a video's first frame file), "
                         f"got {first_frame_index!r}")
    files = list_frame_files(folder)
    if files and files[0][0] < first_frame_index:
        raise ValueError(f"{folder} holds {files[0][1].name}, numbered below first_frame_index={first_frame_index}: "
                         f"this extraction numbers frames from {files[0][0]}; pass first_frame_index={files[0][0]}")
    return {number - first_frame_index: path for number, path in files}


def frames_for_labels(folder, frames, first_frame_index: int = FIRST_FRAME_INDEX) -> list[Path | None]:
    """The image of each labelled 0-based frame in ``frames`` (None where the folder has none).

    A missing folder gives all None (logged): such a video keeps its labels but no images. Raises ``ValueError``
    when the files fit the labelled frames better shifted by one frame, i.e. the extraction's convention is not
    ``first_frame_index``.
    """
    frames = [int(f) for f in frames]
    if not Path(folder).is_dir():
        logger.warning(f"no frame folder {folder}: its {len(frames)} labelled frames have no image")
        return [None] * len(frames)
    images = read_frame_folder(folder, first_frame_index)
    hits = {shift: sum(f + shift in images for f in frames) for shift in (-1, 0, 1)}
    best = max((-1, 1), key=hits.get)
    if hits[0] < len(frames) and hits[best] > hits[0]:
        raise ValueError(
            f"{folder}: the frame files match {hits[best]} of the {len(frames)} labelled frames when shifted by "
            f"{best:+d} frame but only {hits[0]} as numbered with first_frame_index={first_frame_index}; the "
            f"extraction numbers frames from {first_frame_index + best} (pass first_frame_index="
            f"{first_frame_index + best})")
    return [images.get(f) for f in frames]


__all__ = ["FIRST_FRAME_INDEX", "IMAGE_SUFFIXES", "frames_for_labels", "list_frame_files", "read_frame_folder"]
