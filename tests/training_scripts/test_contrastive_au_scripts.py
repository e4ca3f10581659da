"""Smoke tests of the Contrastive AU scripts: pre-train, resume, stage 2 from the checkpoint, label split reuse,
bad arguments, and one `accelerate launch`."""

import json
from pathlib import Path

import pytest

from hfvid.quickstart import load_training_script

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--dataset_name", "synthetic", "--cpu", "--learning_rate", "1e-3", "--lr_scheduler_type", "constant",
         "--synthetic_image_size", "32"]


def pretrain_argv(output_dir, steps, *extra):
    return [*SMALL, "--output_dir", str(output_dir), "--max_train_steps", str(steps), "--per_device_train_batch_size",
            "4", "--synthetic_videos", "4", "--synthetic_length", "24", "--clips_per_video", "2", *extra]


def finetune_argv(output_dir, init, steps, *extra):
    return [*SMALL, "--output_dir", str(output_dir), "--init", str(init), "--max_train_steps", str(steps),
            "--per_device_train_batch_size", "2", "--synthetic_train_videos", "2", "--synthetic_eval_videos", "1",
            "--synthetic_length", "50", "--window_size", "8", "--windows_per_video", "2", *extra]


def test_pretrain_resume_then_sparse_finetune(tmp_path):
    from hfvid import ContrastiveAUForAUIntensity

    pretrain = load_training_script("pretrain_contrastive_au")
    stage1 = tmp_path / "stage1"
    first = pretrain.main(pretrain.parse_args(pretrain_argv(stage1, 2, "--checkpointing_steps", "1")))
    assert first["history"]["global_step"] == 2 and (stage1 / "checkpoints" / "step_1").is_dir()
    resumed = pretrain.main(pretrain.parse_args(pretrain_argv(stage1, 3, "--resume_from_checkpoint", "latest")))
    assert resumed["history"]["global_step"] == 3 and len(resumed["history"]["losses"]) == 3
    assert "Contrastive AU" in (stage1 / "README.md").read_text()

    train = load_training_script("train_contrastive_au")
    stage2 = tmp_path / "stage2"
    out = train.main(train.parse_args(finetune_argv(stage2, stage1, 2)))
    split_file = stage2 / "labels_r0.02_s0.json"
    split = json.loads(split_file.read_text())
    assert [len(v) for v in split["frames"].values()] == [1, 1]  # round_half_up(0.02 * 50) = 1 per video
    assert "icc_mean" in out["results"] and "mae_mean" in out["results"]
    card = (stage2 / "README.md").read_text()
    assert "label fraction **0.02**" in card and "selection seed **0**" in card
    model = ContrastiveAUForAUIntensity.from_pretrained(stage2)
    assert model.config.label_ratio == 0.02 and model.config.num_aus == 3
    again = train.main(train.parse_args(finetune_argv(stage2, stage1, 1)))  # the saved split is reused
    assert again["split"].frames == split["frames"]


def test_bad_arguments():
    train = load_training_script("train_contrastive_au")
    for ratio in ("0", "1.5"):
        with pytest.raises(ValueError, match="label_ratio"):
            train.parse_args(finetune_argv("/tmp/x", "random", 1, "--label_ratio", ratio))
    with pytest.raises(ValueError, match="shorter than the temporal window"):
        train.main(train.parse_args(finetune_argv("/tmp/cau_short", "random", 1, "--window_size", "64")))


@pytest.mark.launch
def test_accelerate_launch_one_process(tmp_path, launch_script):
    launch_script("pretrain_contrastive_au", *pretrain_argv(tmp_path / "run", 2))
    assert (tmp_path / "run" / "model.safetensors").is_file()
