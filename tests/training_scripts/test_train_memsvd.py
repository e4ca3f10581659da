"""Smoke tests of training_scripts/train_memsvd.py: synthetic + AVA-format data, baselines, resume, launch."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hfvid.quickstart import load_training_script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "training_scripts" / "train_memsvd.py"


def tiny_argv(output_dir, steps, *extra):
    return [
        "--dataset_name", "synthetic", "--output_dir", str(output_dir), "--max_train_steps", str(steps),
        "--per_device_train_batch_size", "8", "--per_device_eval_batch_size", "16", "--synthetic_train_samples", "64",
        "--synthetic_eval_samples", "32", "--learning_rate", "3e-3", "--lr_scheduler_type", "constant", "--cpu",
        *extra,
    ]


def test_train_save_and_reload_with_pipeline(tmp_path):
    script = load_training_script("train_memsvd")
    out = script.main(script.parse_args(tiny_argv(tmp_path / "run", 3)))
    assert out["history"]["global_step"] == 3
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "README.md", "all_results.json"):
        assert (tmp_path / "run" / name).is_file(), name
    results = json.loads((tmp_path / "run" / "all_results.json").read_text())
    assert "eval_accuracy" in results and "eval_mAP" in results and results["eval_train_steps"] == 3
    assert "n_c = 1 components" in (tmp_path / "run" / "README.md").read_text()

    from transformers import pipeline

    from hfvid.models.memsvd import synthetic_memory_task, synthetic_memory_video

    task = synthetic_memory_task(1)
    video = synthetic_memory_video(task["memory"][0], task["query"][0])
    pipe = pipeline("hfvid-long-term-action-detection", model=str(tmp_path / "run"))
    (keyframe,) = pipe(iter(video["frames"]), boxes=video["boxes"], keyframes=[video["keyframe"]])
    assert len(keyframe["detections"]) == 1


def test_nonlocal_baseline_and_resume(tmp_path):
    script = load_training_script("train_memsvd")
    run = tmp_path / "run"
    first = script.main(script.parse_args(tiny_argv(run, 2, "--memory", "nonlocal", "--checkpointing_steps", "2")))
    assert json.loads((run / "config.json").read_text())["memory_type"] == "nonlocal"
    resumed = script.main(script.parse_args(tiny_argv(run, 4, "--memory", "nonlocal",
                                                      "--resume_from_checkpoint", "latest")))
    assert [step for step, _ in resumed["history"]["losses"]] == [1, 2, 3, 4]
    assert resumed["history"]["losses"][:2] == first["history"]["losses"]


def write_ava_split(folder: Path, seed: int):
    """A feature bank (datasets) + AVA CSV: 2 videos, keyframes 902-905, 1-2 GT boxes each, 6-d features."""
    from hfvid.models.memsvd import feature_bank_dataset

    rng = np.random.default_rng(seed)
    bank, lines = {}, []
    for video in ("vidA", "vidB"):
        for second in range(898, 910):
            people = 1 + second % 2
            bank[(video, second)] = rng.standard_normal((people, 6)).astype(np.float32)
            if 902 <= second <= 905:
                for p in range(people):
                    box = (0.1 + 0.4 * p, 0.1, 0.4 + 0.4 * p, 0.9)
                    for action in (1 + p, 12):
                        lines.append(f"{video},{second:04d},{box[0]:.3f},{box[1]:.3f},{box[2]:.3f},{box[3]:.3f},"
                                     f"{action},{p}")
    feature_bank_dataset(bank).save_to_disk(str(folder / "bank"))
    (folder / "ava.csv").write_text("\n".join(lines) + "\n")
    return folder / "bank", folder / "ava.csv"


def test_ava_format_training(tmp_path):
    train_bank, train_csv = write_ava_split(tmp_path / "train", 0)
    val_bank, val_csv = write_ava_split(tmp_path / "val", 1)
    (tmp_path / "excluded.csv").write_text("vidA,0905\n")
    (tmp_path / "labels.pbtxt").write_text('item {\n  name: "bend/bow"\n  id: 1\n}\nitem {\n  name: "stand"\n  id: 12\n}\n')
    script = load_training_script("train_memsvd")
    argv = ["--train_dir", str(train_bank), "--annotations", str(train_csv), "--validation_dir", str(val_bank),
            "--validation_annotations", str(val_csv), "--excluded_timestamps", str(tmp_path / "excluded.csv"),
            "--label_map", str(tmp_path / "labels.pbtxt"), "--output_dir", str(tmp_path / "run"), "--cpu",
            "--max_train_steps", "2", "--per_device_train_batch_size", "2",
            "--config_overrides", "feature_dim=6,num_components=2,max_rank=4,latent_dim=4,memory_window_seconds=4"]
    out = script.main(script.parse_args(argv))
    assert 0.0 <= out["results"]["frame_mAP"] <= 1.0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["id2label"]["11"] == "stand" and len(config["eval_label_ids"]) == 60


def test_bad_arguments_fail_clearly(tmp_path):
    script = load_training_script("train_memsvd")
    with pytest.raises(ValueError, match="checkpointing_steps"):
        script.parse_args(tiny_argv(tmp_path, 1, "--checkpointing_steps", "often"))
    with pytest.raises(ValueError, match="num_components"):
        script.build_model(script.parse_args(tiny_argv(tmp_path, 1, "--config_overrides", "num_components=99")))
    with pytest.raises(ValueError, match="annotations"):
        script.parse_args(["--train_dir", str(tmp_path), "--output_dir", str(tmp_path)])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.launch
def test_accelerate_launch_one_process(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "1", "--num_machines",
               "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
               str(SCRIPT), *tiny_argv(tmp_path / "run", 2)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "run" / "model.safetensors").is_file()
    assert "Num processes: 1" in result.stdout + result.stderr
