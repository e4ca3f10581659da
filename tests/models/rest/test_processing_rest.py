"""REST processor: uniform sampling with padding by repetition, lazy file decoding, tokenisation, save/load."""

import numpy as np
import pytest
import torch
from transformers import AutoProcessor

from hfvid.data.video import write_video
from hfvid.models.rest import RESTProcessor, load_video_frames, sample_frame_indices


def test_sampling_pads_short_videos_and_rejects_empty_ones():
    assert sample_frame_indices(8, 4) == [1, 3, 5, 7]
    assert sample_frame_indices(2, 4) == [0, 0, 1, 1]  # fewer frames than needed: repeated
    with pytest.raises(ValueError, match="no frames"):
        sample_frame_indices(0, 4)
    with pytest.raises(ValueError, match="no frames"):
        load_video_frames(np.zeros((0, 8, 8, 3), np.uint8), 2)


def test_file_is_decoded_to_the_sampled_frames(tmp_path):
    frames = [np.full((16, 16, 3), 20 * i, np.uint8) for i in range(6)]
    path = write_video(tmp_path / "v.mp4", frames, fps=6)
    sampled = load_video_frames(str(path), 3)
    assert sampled.shape == (3, 16, 16, 3)
    np.testing.assert_allclose(sampled.reshape(3, -1).mean(1), [20, 60, 100], atol=4)
    short = write_video(tmp_path / "short.mp4", frames[:2], fps=6)  # fewer frames than needed: documented padding
    np.testing.assert_allclose(load_video_frames(str(short), 4).reshape(4, -1).mean(1), [0, 0, 20, 20], atol=4)


def test_processor_round_trip_and_labels(tiny_rest, tmp_path):
    config, processor = tiny_rest
    video = np.random.default_rng(0).integers(0, 255, (5, 20, 24, 3), dtype=np.uint8)
    out = processor(videos=[video, video[:1]], text=["red square", "red square moves left"], prompt="a ")
    assert tuple(out["pixel_values"].shape) == (2, 2, 3, 16, 16)
    labels, ids = out["labels"], out["input_ids"]
    assert (labels[:, :2] == -100).all()  # [CLS] and the prompt token are never trained on
    assert (labels[0, ids[0] == 0] == -100).all() and (labels[1, 2:] == ids[1, 2:]).all()
    processor.save_pretrained(tmp_path)
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert isinstance(loaded, RESTProcessor)
    torch.testing.assert_close(loaded(videos=video)["pixel_values"], processor(videos=video)["pixel_values"])
    assert loaded.batch_decode(ids) == ["a red square", "a red square moves left"]
    assert loaded.batch_decode(ids, prompt="a ") == ["red square", "red square moves left"]
