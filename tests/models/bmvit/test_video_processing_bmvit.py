"""BMViTVideoProcessor: fixed-size resize + Kinetics normalisation, targets, clip sampling, bad inputs, save/load;
and the moving-actors generator and AVA rows it feeds."""

import numpy as np
import pytest
import torch

import hfvid  # noqa: F401
from hfvid.data.synthetic_actors import ACTION_NAMES, synthetic_actor_clip, synthetic_actor_video
from hfvid.models.bmvit import BMViTVideoProcessor


pytestmark = pytest.mark.usefixtures("one_thread")


def processor(**kwargs):
    defaults = dict(size={"height": 16, "width": 24}, num_frames=4, frame_stride=1, base_fps=8.0,
                    num_action_labels=4)
    return BMViTVideoProcessor(**{**defaults, **kwargs})


def test_resize_is_anisotropic_and_normalised():
    clip = np.full((4, 30, 60, 3), 255, np.uint8)  # 2:1 frames go to 16 x 24 whatever the aspect
    clip[:, :, :30] = 0
    pixels = processor()(clip)["pixel_values"]
    assert pixels.shape == (1, 4, 3, 16, 24)
    torch.testing.assert_close(pixels[0, :, :, :, 0], torch.full((4, 3, 16), -0.45 / 0.225))
    torch.testing.assert_close(pixels[0, :, :, :, -1], torch.full((4, 3, 16), 0.55 / 0.225))


def test_targets_are_converted_once_to_cxcywh():
    labels = processor()([np.zeros((4, 8, 8, 3), np.uint8)] * 2, annotations=[
        {"boxes": [[0.1, 0.2, 0.5, 0.8]], "action_ids": [[1, 4]]},
        {"boxes": np.zeros((0, 4)), "action_ids": []},
    ])["labels"]
    torch.testing.assert_close(labels[0]["boxes"], torch.tensor([[0.3, 0.5, 0.4, 0.6]]))
    assert labels[0]["action_labels"].tolist() == [[1.0, 0.0, 0.0, 1.0]] and labels[0]["class_labels"].tolist() == [0]
    assert labels[1]["boxes"].shape == (0, 4) and labels[1]["action_labels"].shape == (0, 4)


@pytest.mark.parametrize("clip, annotation, message", [
    (np.zeros((3, 8, 8, 3), np.uint8), None, "shorter than the model's num_frames=4"),
    (np.zeros((4, 8, 8, 3), np.uint8), {"boxes": [[0.1, 0.2, 1.3, 0.5]], "action_ids": [[1]]}, "normalised"),
    (np.zeros((4, 8, 8, 3), np.uint8), {"boxes": [[0.1, 0.2, 0.3, 0.5]], "action_ids": [[5]]}, "action id 5"),
    (np.zeros((4, 8, 8, 3), np.uint8), {"boxes": [[0.4, 0.2, 0.3, 0.5]], "action_ids": [[1]]}, "x2 > x1"),
])
def test_bad_inputs_raise_clear_errors(clip, annotation, message):
    with pytest.raises(ValueError, match=message):
        processor()(clip, annotations=annotation)


def test_bad_ava_row_label_id(tmp_path):
    from hfvid.data.formats.ava import read_ava_annotations

    path = tmp_path / "ava.csv"
    path.write_text("vid,0902,0.1,0.2,0.3,0.4,81,0\n")
    with pytest.raises(ValueError, match="action_id 81"):
        read_ava_annotations(path)


def test_clip_sampling_is_centred_by_timestamps():
    ava = BMViTVideoProcessor()  # 16 frames, stride 4 at 30 fps
    times = ava.clip_timestamps(902.0)
    assert times[8] == 902.0 and np.allclose(np.diff(times), 4 / 30)
    frames = [np.full((2, 2, 3), i, np.uint8) for i in range(10)]
    stamps = np.arange(10) / 8.0
    clip = processor().sample_clip(stamps, frames, keyframe_time=0.0)  # edge frames repeat at the start
    assert [int(f[0, 0, 0]) for f in clip] == [0, 0, 0, 1]
    clip = processor(frame_stride=2, base_fps=16.0).sample_clip(stamps + 0.01, frames, keyframe_time=0.5)
    assert [int(f[0, 0, 0]) for f in clip] == [2, 3, 4, 5]


def test_save_and_load_with_auto_video_processor(tmp_path):
    from transformers import AutoVideoProcessor

    original = processor(frame_stride=2, base_fps=25.0)
    original.save_pretrained(tmp_path)
    loaded = AutoVideoProcessor.from_pretrained(tmp_path)
    assert isinstance(loaded, BMViTVideoProcessor)
    assert (loaded.frame_stride, loaded.base_fps, loaded.num_frames, loaded.num_action_labels) == (2, 25.0, 4, 4)
    clip = np.random.default_rng(0).integers(0, 255, (4, 10, 12, 3), dtype=np.uint8)
    torch.testing.assert_close(loaded(clip)["pixel_values"], original(clip)["pixel_values"])


def test_to_ava_rows_keeps_the_evaluated_ids():
    result = {"boxes": torch.tensor([[0.1, 0.2, 0.3, 0.4]]), "action_scores": torch.tensor([[0.9, 0.1, 0.5, 0.7]])}
    rows = BMViTVideoProcessor.to_ava_rows(result, "vid", 902, eval_label_ids=[1, 3])
    assert [(r["action_id"], round(r["score"], 3)) for r in rows] == [(1, 0.9), (3, 0.5)]
    assert rows[0]["box"] == pytest.approx((0.1, 0.2, 0.3, 0.4)) and rows[0]["timestamp"] == 902


def test_synthetic_actors_are_exact_and_seeded():
    clip = synthetic_actor_clip(3, num_frames=4, image_size=32)
    again = synthetic_actor_clip(3, num_frames=4, image_size=32)
    assert np.array_equal(clip["frames"], again["frames"]) and clip["frames"].dtype == np.uint8
    assert clip["action_labels"].shape == (len(clip["boxes"]), len(ACTION_NAMES))
    assert ((clip["boxes"] >= 0) & (clip["boxes"] <= 1)).all()
    for box, actions in zip(clip["boxes"], clip["action_labels"]):
        x1, y1, x2, y2 = (box * 32).round().astype(int)
        side = x2 - x1
        assert side == y2 - y1 and bool(actions[3]) == (side >= 10)
        patch = clip["frames"][2, y1:y2, x1:x2].astype(float).mean((0, 1))
        if actions[2]:  # red squares are red at the keyframe (unless covered by a later square)
            assert patch[0] > patch[1] or patch[0] > 150
        assert not (actions[0] and actions[1])
    video = synthetic_actor_video(12, image_size=32, num_actors=2)
    assert video["frames"].shape == (12, 32, 32, 3) and video["boxes"].shape == (12, 2, 4)
