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


# ---------------------------------------------------------------- the Kinetics weights' own sampling (issue 17)

from hfvid.models.mvitv2.video_processing_mvitv2 import crop_offsets, stride_clip_indices  # noqa: E402

TINY_MODEL = dict(image_size=[32, 32], num_frames=4, embed_dim=16, num_heads=[1, 2], output_channels=[16, 32],
                  stride_q=[[1, 1, 1], [1, 2, 2]], stride_kv=[[1, 4, 4], [1, 2, 2]], stochastic_depth_prob=0.0,
                  num_labels=5)


def test_stride_clip_indices_for_a_known_video_length():
    # 300 frames, 16 x 4 (span 64): delta 236, clips start at i * floor(236 / 4) = 0, 59, 118, 177, 236
    indices = stride_clip_indices(300, 16, 4, num_clips=5).reshape(5, 16)
    assert indices[:, 0].tolist() == [0, 59, 118, 177, 236]
    assert indices[0].tolist() == [0, 4, 8, 12, 16, 21, 25, 29, 33, 37, 42, 46, 50, 54, 58, 63]  # linspace(0, 63)
    assert indices[-1, -1] == 299 and (np.diff(indices, axis=1) >= 4).all()
    assert stride_clip_indices(300, 16, 4).tolist()[:2] == [118, 122]  # one clip: centred, floor(236 / 2)
    # a 15 fps video with a stride counted at 30 fps spans 32 source frames
    assert stride_clip_indices(300, 16, 4, video_fps=15, base_fps=30)[[0, -1]].tolist() == [134, 165]
    # a video shorter than the clip: every clip starts at 0 and the end repeats the last frame
    short = stride_clip_indices(40, 16, 4, num_clips=2).reshape(2, 16)
    assert short[0].tolist() == short[1].tolist() and short[0, -4:].tolist() == [39, 39, 39, 39]


def test_crop_offsets_left_centre_right():
    assert crop_offsets(64, 32, 3) == [0, 16, 32]
    assert crop_offsets(41, 32, 1) == [5]  # ceil(9 / 2), as PySlowFast's uniform_crop
    assert crop_offsets(32, 32, 3) == [0, 0, 0]


def test_stride_sampling_multi_clip_frames_from_an_array():
    video = np.stack([np.full((48, 64, 3), t, np.uint8) for t in range(100)])  # frame t has value t
    proc = MViTv2VideoProcessor(size={"shortest_edge": 40}, crop_size={"height": 32, "width": 32}, num_frames=4,
                                sampling="stride", frame_stride=2, num_clips=2)
    pixels = proc([video], return_tensors="pt")["pixel_values"]
    assert pixels.shape == (1, 2, 4, 3, 32, 32)
    values = (pixels[0, :, :, 0, 16, 16] * 0.225 + 0.45) * 255
    # span 8 frames, delta 92: clips at 0 and 92, frames linspace(start, start + 7, 4)
    torch.testing.assert_close(values, torch.tensor([[0.0, 2, 4, 7], [92, 94, 96, 99]]), atol=1e-3, rtol=0)


@pytest.mark.parametrize("height, width", [(40, 64), (64, 40)])
def test_three_crops_spread_along_the_long_side(height, width):
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    frame = np.stack([rows * 3, cols * 3, np.zeros_like(rows)], -1).astype(np.uint8)
    proc = MViTv2VideoProcessor(size={"shortest_edge": 40}, crop_size={"height": 32, "width": 32}, num_frames=2,
                                num_crops=3)
    pixels = proc([np.stack([frame] * 4)], return_tensors="pt")["pixel_values"]
    assert pixels.shape == (1, 3, 2, 3, 32, 32)
    corners = ((pixels[0, :, 0, :2, 0, 0] * 0.225 + 0.45) * 255 / 3).round()  # (row, col) of each crop's corner
    expected = [[4, 0], [4, 16], [4, 32]] if width > height else [[0, 4], [16, 4], [32, 4]]
    assert corners.tolist() == expected


def test_stride_sampling_from_a_file_decodes_repeated_indices(tmp_path):
    frames = ramp_video(num_frames=20)
    path = write_video(tmp_path / "ramp.mp4", frames, fps=30)
    proc = MViTv2VideoProcessor(size={"shortest_edge": 40}, crop_size={"height": 32, "width": 32}, num_frames=4,
                                sampling="stride", frame_stride=8, num_clips=2)
    # span 32 > 20 frames: both clips are linspace(0, 31, 4) clamped = frames 0, 10, 19, 19
    from_file = proc(str(path), return_tensors="pt")["pixel_values"]
    assert from_file.shape == (1, 2, 4, 3, 32, 32)
    values = (from_file[0, :, :, 0, 16, 16] * 0.225 + 0.45) * 255 / 10
    assert values.round().tolist() == [[0, 10, 19, 19]] * 2


def test_bad_view_settings_are_clear_errors():
    with pytest.raises(ValueError, match="sampling must be one of"):
        MViTv2VideoProcessor(sampling="dense")
    with pytest.raises(ValueError, match="num_clips=5 needs sampling='stride'"):
        MViTv2VideoProcessor(num_clips=5)
    with pytest.raises(ValueError, match="frame_stride must be an int >= 1, got 0"):
        MViTv2VideoProcessor(sampling="stride", frame_stride=0)
    with pytest.raises(ValueError, match="cannot be split into num_clips=2"):
        MViTv2VideoProcessor(sampling="stride", num_clips=2, num_frames=4, size={"shortest_edge": 40},
                             crop_size={"height": 32, "width": 32})([ramp_video(5)], do_sample_frames=False)


def test_multi_view_scores_are_the_mean_of_the_views_probabilities():
    from hfvid.models.mvitv2 import MViTv2Config, MViTv2ForVideoClassification

    torch.manual_seed(0)
    model = MViTv2ForVideoClassification(MViTv2Config(**TINY_MODEL)).eval()
    views = torch.randn(2, 3, 4, 3, 32, 32)
    with torch.no_grad():
        averaged = model(views, labels=torch.tensor([1, 4]))
        per_view = model(views.flatten(0, 1)).logits.unflatten(0, (2, 3))
    torch.testing.assert_close(averaged.logits.softmax(-1), per_view.softmax(-1).mean(1))
    torch.testing.assert_close(averaged.logits.exp().sum(-1), torch.ones(2))  # normalised log-probabilities
    torch.testing.assert_close(averaged.loss, -averaged.logits[[0, 1], [1, 4]].mean())
    assert averaged.pooler_output.shape == (2, 32)


def test_stock_pipeline_on_a_converted_tiny_model_with_multi_view(tmp_path):
    from transformers import pipeline

    from hfvid.models.mvitv2 import MViTv2Config, MViTv2ForVideoClassification

    torch.manual_seed(0)
    model = MViTv2ForVideoClassification(MViTv2Config(**TINY_MODEL)).eval()
    model.save_pretrained(tmp_path / "model")
    proc = MViTv2VideoProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, num_frames=4,
                                sampling="stride", frame_stride=2, num_clips=2, num_crops=3)
    proc.save_pretrained(tmp_path / "model")
    rng = np.random.default_rng(0)
    path = write_video(tmp_path / "noise.mp4", rng.integers(0, 255, (24, 40, 56, 3), dtype=np.uint8), fps=30)
    classify = pipeline("video-classification", model=str(tmp_path / "model"))
    assert isinstance(classify.video_processor, MViTv2VideoProcessor) and classify.video_processor.num_crops == 3
    result = classify(str(path), top_k=5)
    pixels = proc(str(path), return_tensors="pt")["pixel_values"]
    assert pixels.shape == (1, 6, 4, 3, 32, 32)
    with torch.no_grad():
        expected = model(pixels.flatten(0, 1)).logits.softmax(-1).mean(0)
    assert [r["label"] for r in result] == [model.config.id2label[i] for i in expected.argsort(descending=True).tolist()]
    torch.testing.assert_close(torch.tensor([r["score"] for r in result]), expected.sort(descending=True).values)


def test_test_view_defaults_can_be_overridden_per_call():
    from hfvid.models.mvitv2.video_processing_mvitv2 import KINETICS_TEST_VIEWS

    proc = MViTv2VideoProcessor(**KINETICS_TEST_VIEWS | {"size": {"shortest_edge": 40},
                                                         "crop_size": {"height": 32, "width": 32}}, num_frames=4)
    video = ramp_video(num_frames=25)
    assert proc([video], return_tensors="pt")["pixel_values"].shape == (1, 5, 4, 3, 32, 32)
    # one view (training, backbone features): num_clips=1 takes the centred clip
    single = proc([video], num_clips=1, return_tensors="pt")["pixel_values"]
    assert single.shape == (1, 4, 3, 32, 32)
    sixteen_frames = proc([video[:16]], num_clips=1, do_sample_frames=False, return_tensors="pt")["pixel_values"]
    assert sixteen_frames.shape == (1, 16, 3, 32, 32)
