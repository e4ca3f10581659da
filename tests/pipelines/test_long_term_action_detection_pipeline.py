"""`pipeline("hfvid-long-term-action-detection")`: streaming = offline model, keyframes, detectors, mp4 input."""

import json

import numpy as np
import pytest
import torch

import hfvid  # noqa: F401  (registers the task)
from transformers import pipeline

from hfvid.data.video import write_video
from hfvid.data.synthetic_memory import synthetic_memory_task, synthetic_memory_video
from hfvid.models.memsvd import MeMSVDConfig, MeMSVDForActionDetection
from hfvid.models.memsvd import RoIAlignActorEncoder

D = 8


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    config = MeMSVDConfig(feature_dim=D, num_components=2, max_rank=D, latent_dim=8, num_labels=4,
                          max_features_per_second=5, memory_window_seconds=20)
    path = tmp_path_factory.mktemp("memsvd")
    MeMSVDForActionDetection(config).eval().save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def pipe(model_dir):
    return pipeline("hfvid-long-term-action-detection", model=str(model_dir), device="cpu")


@pytest.fixture(scope="module")
def sample():
    task = synthetic_memory_task(1, num_classes=4, feature_dim=D, memory_size=20)
    return task, synthetic_memory_video(task["memory"][0], task["query"][0])


def test_streaming_matches_the_offline_model(pipe, sample):
    task, video = sample
    results = pipe(iter(video["frames"]), boxes=video["boxes"], top_k=4)
    assert [r["timestamp"] for r in results] == [0.0, 1.0, 2.0, 3.0, 4.0]
    json.dumps(results)  # JSON-serialisable
    last = results[-1]["detections"]
    assert len(last) == 1 and last[0]["box"] == {"xmin": 1.0, "ymin": 1.0, "xmax": 5.0, "ymax": 5.0}
    # offline: the keyframe's memory = every feature seen so far (20 memory + the query itself)
    memory = torch.from_numpy(np.concatenate([task["memory"][0], task["query"]]))[None]
    with torch.no_grad():
        logits = pipe.model(actor_features=torch.from_numpy(task["query"]), memory_features=memory).logits
    expected = sorted(zip(logits.sigmoid()[0].tolist(), range(4)), reverse=True)
    got = [(label["score"], pipe.model.config.label2id[label["label"]]) for label in last[0]["labels"]]
    for (score, index), (ref_score, ref_index) in zip(got, expected):
        assert index == ref_index and score == pytest.approx(ref_score, abs=1e-5)


def test_keyframes_detector_and_empty_seconds(pipe, sample):
    _, video = sample
    boxes = {**video["boxes"], 2: []}
    results = pipe(iter(video["frames"]), boxes=boxes, keyframes=[2, 4], top_k=1, threshold=0.0)
    assert [r["timestamp"] for r in results] == [2.0, 4.0]
    assert results[0]["detections"] == [] and len(results[1]["detections"][0]["labels"]) == 1
    calls = []

    def detector(image):
        calls.append(image.shape)
        return [[1.0, 1.0, 5.0, 5.0]]

    detected = pipe(iter(video["frames"]), person_detector=detector)
    assert len(detected) == 5 and len(calls) == 5
    with pytest.raises(ValueError, match="person_detector"):
        pipe(iter(video["frames"]))
    with pytest.raises(ValueError, match="actor_encoder must return"):
        pipe(iter(video["frames"]), boxes=video["boxes"], actor_encoder=lambda frames, b: torch.zeros(len(b), D + 1))


def test_mp4_path_with_a_pluggable_backbone(pipe, tmp_path):
    frames = [np.full((32, 48, 3), 6 * i, np.uint8) for i in range(40)]
    path = write_video(tmp_path / "clip.mp4", frames, fps=10)
    projection = torch.randn(D, 3)

    def backbone(clip):  # (T, 3, H, W) -> (D, H / 2, W / 2): a stand-in for a video backbone's last stage
        pooled = torch.nn.functional.avg_pool2d(clip.mean(0, keepdim=True), 2)[0]
        return torch.einsum("dc,chw->dhw", projection, pooled / 255)

    encoder = RoIAlignActorEncoder(backbone, spatial_scale=0.5, output_size=2)
    results = pipe(str(path), boxes={1: [[0, 0, 20, 20], [10, 5, 40, 30]], 3: [[0, 0, 47, 31]]},
                   actor_encoder=encoder, fps=5)
    assert [len(r["detections"]) for r in results] == [2, 1]
    several = pipe([str(path), str(path)], boxes=[{1: [[0, 0, 20, 20]]}, {2: [[0, 0, 20, 20]]}], actor_encoder=encoder)
    assert [[r["timestamp"] for r in video] for video in several] == [[1.0], [2.0]]


def test_input_contract_checks_before_model_work(pipe, sample, monkeypatch):
    _, video = sample
    calls = []
    monkeypatch.setattr(pipe.model, "forward", lambda *a, **k: calls.append(1))
    frames = list(video["frames"])
    with pytest.raises(ValueError, match=r"keyframes: \[2.5\] have no boxes"):
        pipe(frames, boxes=video["boxes"], keyframes=[2.5])
    with pytest.raises(ValueError, match=r"boxes \(seconds\): 9.0 s is after the end of the video \(duration 4"):
        pipe(frames, boxes={**video["boxes"], 9: [[1, 1, 5, 5]]})
    with pytest.raises(ValueError, match=r"boxes\[3\]\[0\] = \[5.0, 1.0, 1.0, 5.0\] is empty or reversed"):
        pipe(frames, boxes={**video["boxes"], 3: [[5, 1, 1, 5]]})
    with pytest.raises(ValueError, match="boxes: got an empty dict"):
        pipe(frames, boxes={})
    with pytest.raises(ValueError, match="keyframes: .*not whole seconds"):
        pipe(frames, person_detector=lambda image: None, keyframes=[0.5])
    with pytest.raises(ValueError, match="'keyframe'.*did you mean 'keyframe' -> 'keyframes'"):
        pipe(frames, boxes=video["boxes"], keyframe=[1])
    assert calls == []  # every check ran before the model
    monkeypatch.undo()
    nobody = pipe(frames, person_detector=lambda image: None)  # a detector's None = nobody: empty detections
    assert [r["detections"] for r in nobody] == [[]] * len(nobody) and len(nobody) == 5
