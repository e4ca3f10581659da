"""MViTv2VideoProcessor: Kinetics-style clips from frames or files, with PyAV decoding and Auto registration."""

import numpy as np
import pytest
import torch

import hfvid  # noqa: F401  (registers the Auto classes)
from hfvid.data.video import write_video
from hfvid.models.mvitv2 import MViTv2VideoProcessor


def ramp_video(num_frames=20, height=48, width=64):
    """Frame t is uniformly grey with value 10 t: sampled frame indices can be read off the pixels."""
    return np.stack([np.full((height, width, 3), 10 * t, np.uint8) for t in range(num_frames)])


def processor():
    return MViTv2VideoProcessor(size={"shortest_edge": 40}, crop_size={"height": 32, "width": 32}, num_frames=4)


def test_uniform_sampling_resize_crop_and_normalisation():
    pixels = processor()([ramp_video()], return_tensors="pt")["pixel_values"]
    assert pixels.shape == (1, 4, 3, 32, 32)
    values = pixels[0, :, 0, 16, 16] * 0.225 + 0.45
    torch.testing.assert_close(values, torch.tensor([0, 50, 100, 150]) / 255, atol=1e-5, rtol=0)


def test_file_decoded_with_pyav_matches_frames(tmp_path):
    frames = ramp_video()
    path = write_video(tmp_path / "ramp.mp4", frames, fps=10)
    from_file = processor()(str(path), return_tensors="pt")["pixel_values"]
    from_frames = processor()([frames], return_tensors="pt")["pixel_values"]
    assert from_file.shape == from_frames.shape
    assert (from_file - from_frames).abs().max() < 0.1  # lossy H.264 on flat grey frames


def test_round_trip_through_auto_video_processor(tmp_path):
    from transformers import AutoVideoProcessor

    from hfvid.models.mvitv2 import MViTv2Config

    processor().save_pretrained(tmp_path)
    MViTv2Config().save_pretrained(tmp_path)
    loaded = AutoVideoProcessor.from_pretrained(tmp_path)
    assert type(loaded) is MViTv2VideoProcessor and loaded.num_frames == 4
    video = ramp_video()
    assert torch.equal(loaded([video], return_tensors="pt")["pixel_values"],
                       processor()([video], return_tensors="pt")["pixel_values"])


def test_missing_file_is_a_clear_error(tmp_path):
    from bad_inputs import write_audio, write_corrupt_video

    with pytest.raises(FileNotFoundError, match="not found: .*missing.mp4"):
        processor()(str(tmp_path / "missing.mp4"))
    (tmp_path / "empty.mp4").write_bytes(b"")
    for path, message in [(tmp_path / "empty.mp4", "empty.mp4.*0 bytes"),
                          (write_corrupt_video(tmp_path / "corrupt.mp4"), "could not open .*corrupt.mp4"),
                          (write_audio(tmp_path / "audio.m4a"), "audio.m4a.*no video stream")]:
        with pytest.raises(ValueError, match=message):
            processor()(str(path))
