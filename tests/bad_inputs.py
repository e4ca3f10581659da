"""Bad input files for the input-contract tests: an audio-only container, a corrupt video, a truncated JPEG."""

from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image


def write_audio(path, seconds: float = 0.5, rate: int = 16000) -> Path:
    """An audio-only AAC file (a container FFmpeg opens, without any video stream)."""
    import av

    path = Path(path)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=rate)
        samples = np.zeros((1, int(seconds * rate)), np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate, frame.time_base, frame.pts = rate, Fraction(1, rate), 0
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_corrupt_video(path) -> Path:
    """Random bytes behind an mp4 name."""
    path = Path(path)
    path.write_bytes(np.random.RandomState(0).bytes(4096))
    return path


def write_truncated_jpeg(path, size=(64, 48)) -> Path:
    """The first half of a valid JPEG: the header parses, the pixels do not."""
    path = Path(path)
    array = np.random.RandomState(0).randint(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(array).save(path, format="JPEG", quality=90)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path
