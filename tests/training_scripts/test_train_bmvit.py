"""Smoke tests of training_scripts/train_bmvit.py: in-process (train, save, card, reload, resume) and one launch."""

import json
from pathlib import Path

import pytest

from hfvid.quickstart import load_training_script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "training_scripts" / "train_bmvit.py"
BACKBONE = json.dumps({"image_size": [32, 32], "num_frames": 4, "embed_dim": 16, "num_heads": [1, 2],
                       "output_channels": [16, 32], "stride_q": [[1, 1, 1], [1, 2, 2]],
                       "stride_kv": [[1, 4, 4], [1, 2, 2]]})


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_argv(output_dir, steps, *extra):
    return ["--dataset_name", "synthetic", "--output_dir", str(output_dir), "--backbone_config", BACKBONE,
            "--max_train_steps", str(steps), "--per_device_train_batch_size", "4", "--per_device_eval_batch_size", "8",
            "--synthetic_train_samples", "16", "--synthetic_eval_samples", "8", "--learning_rate", "1e-3",
            "--lr_scheduler_type", "constant", "--detection_warmup_steps", "1", "--cpu", *extra]


def test_train_save_reload_and_resume(tmp_path):
    script = load_training_script("train_bmvit")
    run = tmp_path / "run"
    first = script.main(script.parse_args(tiny_argv(run, 2, "--checkpointing_steps", "2")))
    for name in ("config.json", "model.safetensors", "video_preprocessor_config.json", "README.md",
                 "all_results.json"):
        assert (run / name).is_file(), name
    results = json.loads((run / "all_results.json").read_text())
    assert 0.0 <= results["eval_frame_mAP"] <= 1.0 and 0.0 <= results["eval_person_AP"] <= 1.0
    card = (run / "README.md").read_text()
    assert "no external person detector" in card.lower()

    from transformers import pipeline

    pipe = pipeline("hfvid-video-action-localization", model=str(run))
    import numpy as np

    out = pipe(np.zeros((4, 32, 32, 3), np.uint8), fps=8.0, keyframe_timestamps=[0.25], person_threshold=0.0)
    assert out[0]["detections"] and out[0]["detections"][0]["labels"][0]["label"] in (
        "moving_left", "moving_right", "red", "large")

    resumed = script.main(script.parse_args(tiny_argv(run, 3, "--resume_from_checkpoint", "latest")))
    assert [step for step, _ in resumed["history"]["losses"]] == [1, 2, 3]
    assert resumed["history"]["losses"][:2] == first["history"]["losses"]


def test_bad_arguments_fail_clearly(tmp_path):
    script = load_training_script("train_bmvit")
    with pytest.raises(ValueError, match="detection_warmup_steps"):
        script.parse_args(tiny_argv(tmp_path, 1, "--detection_warmup_steps", "-1"))
    with pytest.raises(ValueError, match="token_pooling"):
        script.build_model(script.parse_args(tiny_argv(tmp_path, 1, "--config_overrides", "token_pooling=max")),
                           4, {i: str(i) for i in range(4)})


@pytest.mark.launch
def test_accelerate_launch_one_process(tmp_path, launch_script):
    result = launch_script(SCRIPT, *tiny_argv(tmp_path / "run", 1))
    assert (tmp_path / "run" / "model.safetensors").is_file() and "Num processes: 1" in result.stdout + result.stderr
