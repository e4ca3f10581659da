"""Streaming video decoding with PyAV: frames come one at a time, so hour-long videos never sit in memory.

``datasets``' ``Video()`` feature needs torchcodec, which does not load beside the CPU torch builds hfvid supports,
so hfvid decodes with PyAV (``av``) itself. Every function here works on a path (any container FFmpeg reads) and
:func:`iter_frames` also accepts frames already in memory, so pipelines take either.
"""

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import numpy as np


@dataclass
class VideoFrame:
    """One decoded frame: ``image`` is ``(H, W, 3)`` uint8 RGB (or whatever array a frame iterable gave)."""

    timestamp: float  # seconds from the start of the stream
    image: np.ndarray
    index: int  # position in the source stream (before any fps resampling)


def _open(path):
    """PyAV container + first video stream of a file; ``FileNotFoundError`` / ``ValueError`` naming the file."""
    import av

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"video file not found: {str(path)!r}")
    if not path.is_file():
        raise ValueError(f"expected a video file, got the directory {str(path)!r}")
    if path.stat().st_size == 0:
        raise ValueError(f"could not open {str(path)!r} as a video: the file is empty (0 bytes)")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError, OSError) as error:
        raise ValueError(f"could not open {str(path)!r} as a video: {error} (expected a video file FFmpeg reads, "
                         f"e.g. mp4/avi/mkv)") from None
    if not container.streams.video:
        container.close()
        raise ValueError(f"{str(path)!r} has no video stream (expected a video file, not audio-only or data)")
    return container, container.streams.video[0]


def video_info(path) -> dict:
    """Metadata without decoding: ``fps``, ``duration`` (s), ``num_frames`` (container's count, may be 0 when
    unknown), ``width``, ``height``, ``codec``."""
    container, stream = _open(path)
    try:
        fps = float(stream.average_rate or stream.guessed_rate or 0) or None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000  # av.time_base
        else:
            duration = None
        num_frames = stream.frames or (round(duration * fps) if duration and fps else 0)
        return {
            "fps": fps,
            "duration": duration,
            "num_frames": int(num_frames),
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "codec": stream.codec_context.name,
        }
    finally:
        container.close()


def _decode(path, start: float | None) -> Iterator[VideoFrame]:
    """Frames of a file from ``start`` on (seeking to the keyframe before it), with their timestamps."""
    container, stream = _open(path)
    try:
        stream.thread_type = "AUTO"
        if start and start > 0 and stream.time_base is not None:
            container.seek(int(start / stream.time_base), stream=stream, backward=True, any_frame=False)
        fps = float(stream.average_rate or 0) or None
        for index, frame in enumerate(_decoded(container, stream, path)):
            if frame.pts is not None and stream.time_base is not None:
                timestamp = float(frame.pts * stream.time_base)
                start_time = float((stream.start_time or 0) * stream.time_base)
                timestamp -= start_time
                position = round(timestamp * fps) if fps else index
            else:
                timestamp, position = (index / fps if fps else float(index)), index
            yield VideoFrame(timestamp, frame.to_ndarray(format="rgb24"), position)
    finally:
        container.close()


def _decoded(container, stream, path):
    """``container.decode(stream)``, with decoding errors (a corrupt file) as a ``ValueError`` naming the file."""
    import av

    frames = container.decode(stream)
    while True:
        try:
            frame = next(frames)
        except StopIteration:
            return
        except av.error.FFmpegError as error:
            raise ValueError(f"could not decode {str(path)!r}: {error} (the video file looks corrupt)") from None
        yield frame


def _from_frames(frames: Iterable, input_fps: float) -> Iterator[VideoFrame]:
    """Frames in memory: arrays (timestamp = index / input_fps), ``(timestamp, array)`` pairs or VideoFrames."""
    for index, item in enumerate(frames):
        if isinstance(item, VideoFrame):
            yield item
        elif isinstance(item, tuple) and len(item) == 2:
            yield VideoFrame(float(item[0]), np.asarray(item[1]), index)
        else:
            yield VideoFrame(index / input_fps, np.asarray(item), index)


def iter_frames(path_or_frames, fps: float | None = None, start: float | None = None, end: float | None = None,
                input_fps: float | None = None) -> Iterator[VideoFrame]:
    """Yield the frames of ``[start, end)`` seconds, optionally resampled to ``fps``, one at a time.

    Args:
        path_or_frames: a video file path, or an iterable of frames (arrays, ``(timestamp, array)`` pairs or
            `VideoFrame`s); a generator is consumed lazily.
        fps: output rate; each output slot ``start + i / fps`` takes the first frame at or after it (frames are
            dropped, never duplicated). `None` keeps every frame.
        start, end: time range in seconds (`end` exclusive). A file is *seeked* to `start` (to the keyframe before
            it, then decoded forward), so the cost does not grow with `start`.
        input_fps: rate of a frame iterable of bare arrays (defaults to `fps`, else 1 frame per second).
    """
    if fps is not None and fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if start is not None and end is not None and end < start:
        raise ValueError(f"end ({end}) must be >= start ({start})")
    if isinstance(path_or_frames, (str, Path)):
        source = _decode(path_or_frames, start)
    elif isinstance(path_or_frames, np.ndarray) and path_or_frames.ndim < 3:
        raise ValueError(f"frames must be an iterable of (H, W, C) arrays, got an array of shape {path_or_frames.shape}")
    elif isinstance(path_or_frames, Iterable):
        source = _from_frames(path_or_frames, input_fps or fps or 1.0)
    else:
        raise ValueError(f"expected a video as a file path or an iterable of frames, got {type(path_or_frames).__name__}")
    begin = start or 0.0
    next_slot = begin
    eps = 1e-6
    for frame in source:
        if frame.timestamp < begin - eps:
            continue
        if end is not None and frame.timestamp >= end - eps:
            break
        if fps is not None:
            if frame.timestamp < next_slot - eps:
                continue
            next_slot += (np.floor((frame.timestamp - next_slot + eps) * fps) + 1) / fps
        yield frame


def iter_clips(frames: Iterable[VideoFrame], seconds: Iterable[float] | None = None, clip_duration: float = 1.0):
    """Yield ``(second, clip images, middle VideoFrame)`` for each wanted second, in time order, holding one clip.

    The clip of second ``t`` is every frame with timestamp in ``[t - clip_duration / 2, t + clip_duration / 2)``;
    ``seconds`` must be increasing (default: 0, 1, 2, ... until the video ends). Wanted seconds past the end of a
    finite list are still yielded, with an empty clip and ``None`` as middle frame.
    """
    half = clip_duration / 2
    wanted = iter(seconds) if seconds is not None else count(0)
    buffer = deque()

    def clip(second):
        chosen = [f for f in buffer if second - half <= f.timestamp < second + half]
        middle = min(chosen, key=lambda f: abs(f.timestamp - second)) if chosen else None
        return second, [f.image for f in chosen], middle

    current = next(wanted, None)
    for frame in frames:
        while current is not None and frame.timestamp >= current + half:
            yield clip(current)
            current = next(wanted, None)
        if current is None:
            return
        buffer.append(frame)
        while buffer and buffer[0].timestamp < current - half:
            buffer.popleft()
    while current is not None:  # the stream ended: flush the seconds whose clip is (partly) buffered
        item = clip(current)
        if not item[1] and seconds is None:
            return
        yield item
        current = next(wanted, None)


def keyframe_clips(path, keyframes: dict, fps: float | None, clip_duration: float, time_offset: float = 0.0):
    """Yield ``(keyframe second, clip images, boxes in pixels)`` for the AVA-style keyframes of one video.

    ``keyframes`` maps a keyframe second (counted from the movie start) to its normalised ``(K, 4)`` xyxy boxes; its
    time in the file is ``second - time_offset`` (AVA's 15-minute cuts). Decoding starts at the first keyframe's
    window and streams one clip at a time; keyframes without frames around them are not yielded.
    """
    from .formats.ava import video_time

    times = sorted(keyframes)
    frames = iter_frames(path, fps=fps, start=max(0.0, times[0] - time_offset - clip_duration))
    for second, clip, middle in iter_clips(frames, [video_time(t, time_offset) for t in times], clip_duration):
        if clip:
            height, width = middle.image.shape[:2]
            key = int(round(second + time_offset))
            yield key, clip, keyframes[key] * np.array([width, height, width, height], np.float32)


def write_video(path, frames: Iterable, fps: float = 25.0, codec: str = "libx264", pix_fmt: str = "yuv420p") -> Path:
    """Encode ``(H, W, 3)`` uint8 RGB frames into a video file (tests, synthetic data, visualisations)."""
    import av
    from fractions import Fraction

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = None
        for image in frames:
            image = np.ascontiguousarray(image, dtype=np.uint8)
            if image.ndim != 3 or image.shape[2] != 3:
                raise ValueError(f"frames must be (H, W, 3) uint8 RGB arrays, got shape {image.shape}")
            if stream is None:
                stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1000))
                stream.width, stream.height, stream.pix_fmt = image.shape[1], image.shape[0], pix_fmt
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        if stream is None:
            raise ValueError("no frames to write")
        for packet in stream.encode():
            container.mux(packet)
    return path


__all__ = ["VideoFrame", "iter_clips", "iter_frames", "keyframe_clips", "video_info", "write_video"]
