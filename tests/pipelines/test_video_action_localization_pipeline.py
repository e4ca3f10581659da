"""`hfvid-video-action-localization`: frames or a video file -> per-keyframe people and actions, streamed."""

import json

import numpy as np
import pytest
import torch
from transformers import pipeline

import hfvid  # noqa: F401
from hfvid.data.synthetic_actors import ACTION_NAMES, synthetic_actor_video
from hfvid.models.bmvit import BMViTConfig, BMViTForActionLocalization, BMViTVideoProcessor
from hfvid.pipelines.video_action_localization import default_keyframes

BACKBONE = {"image_size": [32, 32], "num_frames": 4, "embed_dim": 16, "num_heads": [1, 2],
            "output_channels": [16, 32], "stride_q": [[1, 1, 1], [1, 2, 2]], "stride_kv": [[1, 4, 4], [1, 2, 2]]}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("bmvit")
    torch.manual_seed(0)
    config = BMViTConfig(num_action_labels=4, backbone_config=BACKBONE, id2label=dict(enumerate(ACTION_NAMES)))
    BMViTForActionLocalization(config).save_pretrained(path)
    BMViTVideoProcessor(size={"height": 32, "width": 32}, num_frames=4, frame_stride=2, base_fps=8.0,
                        num_action_labels=4).save_pretrained(path)
    return path


def test_frames_in_memory(model_dir):
    pipe = pipeline("hfvid-video-action-localization", model=str(model_dir))
    frames = synthetic_actor_video(24, image_size=40)["frames"]  # 3 s at 8 fps, 40x40 source pixels
    results = pipe(frames, fps=8.0, person_threshold=0.0, top_k=3, top_k_actions=2, batch_size=2)
    assert [r["timestamp"] for r in results] == [1.0, 2.0]  # default: every whole second
    json.dumps(results)
    for result in results:
        assert len(result["detections"]) == 3
        for found in result["detections"]:
            assert 0 <= found["box"]["xmin"] <= found["box"]["xmax"] <= 40
            assert len(found["labels"]) == 2 and found["labels"][0]["label"] in ACTION_NAMES
            assert found["labels"][0]["score"] >= found["labels"][1]["score"]
    assert pipe(frames, fps=8.0, person_threshold=1.0, keyframe_timestamps=[0.5])[0]["detections"] == []


def test_video_file_is_streamed_and_matches_in_memory_frames(model_dir, tmp_path):
    from hfvid.data.video import write_video

    frames = synthetic_actor_video(24, image_size=32)["frames"]
    path = write_video(tmp_path / "actors.mp4", frames, fps=8.0)
    pipe = pipeline("hfvid-video-action-localization", model=str(model_dir))
    from_file = pipe(str(path), keyframe_timestamps=[0.0, 1.5, 2.9], person_threshold=0.0, top_k=2)
    assert [r["timestamp"] for r in from_file] == [0.0, 1.5, 2.9]
    decoded = [f.image for f in __import__("hfvid.data.video", fromlist=["iter_frames"]).iter_frames(path)]
    in_memory = pipe(np.stack(decoded), fps=8.0, keyframe_timestamps=[0.0, 1.5, 2.9], person_threshold=0.0, top_k=2)
    for a, b in zip(from_file, in_memory):
        assert [d["score"] for d in a["detections"]] == pytest.approx([d["score"] for d in b["detections"]], abs=1e-5)


def test_default_keyframes_and_bad_input(model_dir):
    assert default_keyframes(3.2) == [1.0, 2.0, 3.0] and default_keyframes(0.5) == [0.25]
    pipe = pipeline("hfvid-video-action-localization", model=str(model_dir))
    with pytest.raises(FileNotFoundError, match="video file not found"):
        pipe("missing.mp4")
