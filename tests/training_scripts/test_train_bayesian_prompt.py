"""Smoke tests of training_scripts/train_bayesian_prompt.py: in-process run + pipeline reload, resume, one launch."""

import json
import sys
from pathlib import Path

import pytest

from hfvid.quickstart import load_training_script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "training_scripts" / "train_bayesian_prompt.py"


def tiny_argv(output_dir, steps, *extra):
    return [
        "--dataset_name", "synthetic", "--output_dir", str(output_dir), "--max_train_steps", str(steps),
        "--per_device_train_batch_size", "4", "--per_device_eval_batch_size", "8", "--num_shots", "4",
        "--synthetic_num_classes", "4", "--synthetic_train_per_class", "4", "--synthetic_test_per_class", "2",
        "--num_samples_train", "2", "--num_samples_eval", "2", "--optimizer", "adamw", "--learning_rate", "1e-2",
        "--lr_scheduler_type", "constant", "--cpu", *extra,
    ]


def test_train_save_and_reload_with_pipeline(tmp_path):
    script = load_training_script("train_bayesian_prompt")
    out = script.main(script.parse_args(tiny_argv(tmp_path / "run", 3)))
    assert out["history"]["global_step"] == 3
    run = tmp_path / "run"
    for name in ("adapter_config.json", "adapter_model.safetensors", "README.md", "all_results.json",
                 "processor_config.json", "base_model/config.json"):
        assert (run / name).is_file(), name
    results = json.loads((run / "all_results.json").read_text())
    for key in ("eval_acc_base", "eval_acc_new", "eval_harmonic_mean", "eval_zero_shot_acc_base"):
        assert key in results, key
    card = (run / "README.md").read_text()
    assert "CoCoOp | 80.47 | 71.69 | 75.83" in card and "this adapter" in card

    from transformers import pipeline

    from hfvid.data.synthetic_images import render_shape, shape_class_names

    pipe = pipeline("hfvid-zero-shot-image-classification", model=str(run))
    labels = shape_class_names(4)
    result = pipe(render_shape(labels[0]), candidate_labels=labels)
    assert len(result) == 4 and result[0]["score"] >= result[-1]["score"]


def test_resume_continues_from_the_saved_step(tmp_path):
    script = load_training_script("train_bayesian_prompt")
    run = tmp_path / "run"
    first = script.main(script.parse_args(tiny_argv(run, 2, "--checkpointing_steps", "2")))
    checkpoint = run / "checkpoints" / "step_2"
    assert not (checkpoint / "model.safetensors").exists()  # the frozen CLIP is not copied into every checkpoint
    assert (checkpoint / "trainable_state_0.safetensors").stat().st_size < 64 * 1024
    resumed = script.main(script.parse_args(tiny_argv(run, 3, "--resume_from_checkpoint", "latest")))
    assert [step for step, _ in resumed["history"]["losses"]] == [1, 2, 3]
    assert resumed["history"]["losses"][:2] == first["history"]["losses"]


def test_bad_arguments_fail_clearly(tmp_path):
    script = load_training_script("train_bayesian_prompt")
    with pytest.raises(ValueError, match="model_name_or_path"):
        script.parse_args(["--train_dir", str(tmp_path), "--output_dir", str(tmp_path)])
    with pytest.raises(ValueError, match="num_shots"):
        script.parse_args(tiny_argv(tmp_path, 1, "--num_shots", "0"))


@pytest.mark.launch
def test_accelerate_launch_one_process(tmp_path, launch_script):
    result = launch_script(SCRIPT, *tiny_argv(tmp_path / "run", 2))
    assert (tmp_path / "run" / "adapter_model.safetensors").is_file()
    assert "Num processes: 1" in result.stdout + result.stderr


def test_coop_split_file(tmp_path):
    """The CoOp benchmark protocol from a split_zhou JSON: base classes trained, base/new evaluated."""
    sys.path.insert(0, str(ROOT / "tests" / "data"))
    from test_coop_splits import coop_dataset

    from hfvid.data.synthetic_images import shape_class_names, tiny_clip

    clip, processor = tiny_clip(image_size=32)
    clip.save_pretrained(tmp_path / "clip")
    processor.save_pretrained(tmp_path / "clip")
    split = coop_dataset(tmp_path / "toy", shape_class_names(4), per_split=(2, 0, 2))
    script = load_training_script("train_bayesian_prompt")
    argv = ["--coop_split", str(split), "--train_dir", str(tmp_path / "toy" / "images"), "--model_name_or_path",
            str(tmp_path / "clip"), "--output_dir", str(tmp_path / "run"), "--max_train_steps", "1", "--num_shots", "2",
            "--num_samples_train", "2", "--num_samples_eval", "2", "--cpu"]
    out = script.main(script.parse_args(argv))
    assert out["results"]["dataset"] == str(split)
    assert 0 <= out["results"]["acc_base"] <= 100 and 0 <= out["results"]["acc_new"] <= 100
    with pytest.raises(ValueError, match="--train_dir"):
        script.main(script.parse_args([a for a in argv if a != str(tmp_path / "toy" / "images") and a != "--train_dir"]))
