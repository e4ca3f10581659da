"""Smoke tests of training_scripts/train_subpixel_fan.py: in-process, resume, and under `accelerate launch`."""

import json
from pathlib import Path

import pytest

from hfvid.quickstart import load_training_script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "training_scripts" / "train_subpixel_fan.py"
TINY = "num_stacks=1,hidden_size=16,hourglass_depth=2,image_size=64,heatmap_size=16,norm_type=group"


def tiny_argv(output_dir, steps, *extra):
    return [
        "--dataset_name", "synthetic", "--output_dir", str(output_dir), "--config_overrides", TINY,
        "--max_train_steps", str(steps), "--per_device_train_batch_size", "4", "--per_device_eval_batch_size", "4",
        "--synthetic_train_samples", "16", "--synthetic_eval_samples", "8", "--synthetic_image_size", "96",
        "--learning_rate", "1e-3", "--lr_scheduler_type", "constant", "--cpu", *extra,
    ]


def test_train_save_and_reload_with_pipeline(tmp_path):
    script = load_training_script("train_subpixel_fan")
    out = script.main(script.parse_args(tiny_argv(tmp_path / "run", 3)))
    assert out["history"]["global_step"] == 3
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "README.md", "all_results.json"):
        assert (tmp_path / "run" / name).is_file(), name
    results = json.loads((tmp_path / "run" / "all_results.json").read_text())
    assert "eval_nme" in results and results["eval_train_steps"] == 3

    import numpy as np
    from transformers import pipeline

    pipe = pipeline("hfvid-facial-landmarks", model=str(tmp_path / "run"))
    faces = pipe(np.zeros((96, 96, 3), np.uint8), boxes=[[20, 20, 70, 75]])
    assert len(faces) == 1 and len(faces[0]["landmarks"]) == 68


def test_resume_continues_from_the_saved_step(tmp_path):
    script = load_training_script("train_subpixel_fan")
    run = tmp_path / "run"
    first = script.main(script.parse_args(tiny_argv(run, 2, "--checkpointing_steps", "2")))
    assert (run / "checkpoints" / "step_2").is_dir()
    resumed = script.main(script.parse_args(tiny_argv(run, 4, "--resume_from_checkpoint", "latest")))
    steps = [step for step, _ in resumed["history"]["losses"]]
    assert steps == [1, 2, 3, 4]
    assert resumed["history"]["losses"][:2] == first["history"]["losses"]


def test_bad_arguments_fail_clearly(tmp_path):
    script = load_training_script("train_subpixel_fan")
    with pytest.raises(ValueError, match="checkpointing_steps"):
        script.parse_args(tiny_argv(tmp_path, 1, "--checkpointing_steps", "often"))
    with pytest.raises(ValueError, match="num_landmarks"):
        script.build_model(script.parse_args(tiny_argv(tmp_path, 1, "--config_overrides", "num_landmarks=5")))


def _launch(launch_script, tmp_path, num_processes):
    result = launch_script(SCRIPT, *tiny_argv(tmp_path / "run", 2), num_processes=num_processes)
    assert (tmp_path / "run" / "model.safetensors").is_file()
    return result.stdout + result.stderr


@pytest.mark.launch
def test_accelerate_launch_one_process(tmp_path, launch_script):
    log = _launch(launch_script, tmp_path, 1)
    assert "Num processes: 1" in log


@pytest.mark.launch
def test_accelerate_launch_two_real_cpu_ranks(tmp_path, launch_script):
    log = _launch(launch_script, tmp_path, 2)
    assert "Num processes: 2" in log and "MULTI_CPU" in log
