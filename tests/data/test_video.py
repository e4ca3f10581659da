"""hfvid.data.video: streaming PyAV decoding of a tiny mp4 written by PyAV, fps resampling, seeking, frame lists."""

import numpy as np
import pytest

from bad_inputs import write_audio

from hfvid.data.video import iter_frames, video_info, write_video


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """3 s at 10 fps, 64 x 48; frame i is uniformly grey level 8 i."""
    frames = [np.full((48, 64, 3), 8 * i, np.uint8) for i in range(30)]
    return write_video(tmp_path_factory.mktemp("video") / "tiny.mp4", frames, fps=10)


def test_video_info(video):
    info = video_info(video)
    assert (info["fps"], info["width"], info["height"], info["num_frames"]) == (10.0, 64, 48, 30)
    assert info["duration"] == pytest.approx(3.0, abs=0.11)


def test_iter_frames_streams_every_frame_in_order(video):
    frames = iter_frames(video)
    first = next(frames)  # a generator: nothing decoded ahead of need
    assert first.timestamp == 0.0 and first.image.shape == (48, 64, 3) and first.image.dtype == np.uint8
    rest = list(frames)
    assert len(rest) == 29
    assert [round(f.timestamp, 3) for f in rest[:3]] == [0.1, 0.2, 0.3]
    assert abs(float(rest[9].image.mean()) - 80) < 4  # frame 10


def test_fps_resampling_and_seeking(video):
    assert [f.index for f in iter_frames(video, fps=2)] == [0, 5, 10, 15, 20, 25]
    window = list(iter_frames(video, start=1.5, end=2.0))
    assert [f.index for f in window] == [15, 16, 17, 18, 19]
    assert abs(float(window[0].image.mean()) - 120) < 4
    assert [f.index for f in iter_frames(video, fps=1, start=1.0)] == [10, 20]


def test_frame_iterables_and_errors(tmp_path):
    frames = [np.zeros((4, 4, 3), np.uint8) + i for i in range(10)]
    assert [f.timestamp for f in iter_frames(iter(frames), input_fps=5, fps=2.5)] == [0.0, 0.4, 0.8, 1.2, 1.6]
    assert [f.timestamp for f in iter_frames([(0.5, frames[0]), (1.5, frames[1])], start=1.0)] == [1.5]
    with pytest.raises(FileNotFoundError, match="not found: .*missing.mp4"):
        next(iter_frames(tmp_path / "missing.mp4"))
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    with pytest.raises(ValueError, match="could not open .*junk.mp4"):
        video_info(tmp_path / "junk.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.mp4.*0 bytes"):
        video_info(tmp_path / "empty.mp4")
    with pytest.raises(ValueError, match="audio.m4a.*no video stream"):
        video_info(write_audio(tmp_path / "audio.m4a"))
    with pytest.raises(ValueError, match="fps"):
        next(iter_frames(frames, fps=0))


def test_iter_clips_holds_one_clip_per_wanted_second():
    from hfvid.data.video import iter_clips

    frames = iter_frames([np.full((2, 2, 3), i, np.uint8) for i in range(20)], input_fps=4)  # 5 s at 4 fps
    clips = [(second, [int(image[0, 0, 0]) for image in images], middle.index if middle else None)
             for second, images, middle in iter_clips(frames, [1, 3, 7], clip_duration=1.0)]
    assert clips == [(1, [2, 3, 4, 5], 4), (3, [10, 11, 12, 13], 12), (7, [], None)]
    every = [second for second, _, _ in iter_clips(iter_frames(np.zeros((9, 2, 2, 3)), input_fps=2))]
    assert every == [0, 1, 2, 3, 4]
