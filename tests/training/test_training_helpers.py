"""Tests of hfvid.training through a toy script: training, checkpoints, exact resume, 2-rank launch, validation."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest
import torch
from accelerate.state import AcceleratorState, GradientState


HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import toy_train_script as toy  # noqa: E402

from hfvid.training import init_trackers, list_checkpoints, validate_args  # noqa: E402


BASE = ["--dataset_name", "synthetic", "--cpu", "--per_device_train_batch_size", "4", "--learning_rate", "0.05"]


def run(output_dir, *extra):
    return toy.main(toy.parse_args([*BASE, "--output_dir", str(output_dir), *extra]))


def weights(folder):
    model = toy.ToyRegressionModel.from_pretrained(folder)
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_trains_checkpoints_prunes_and_finishes(tmp_path):
    out = tmp_path / "run"
    history = run(
        out, "--max_train_steps", "12", "--learning_rate", "0.1", "--lr_scheduler_type", "constant",
        "--checkpointing_steps", "3", "--checkpoints_total_limit", "2", "--eval_steps", "4",
    )  # fmt: skip
    assert history["global_step"] == 12 and [s for s, _ in history["losses"]] == list(range(1, 13))
    first, last = [l for _, l in history["losses"][:3]], [l for _, l in history["losses"][-3:]]
    assert sum(last) < 0.5 * sum(first)
    assert [s for s, _ in history["eval"]] == [4, 8, 12] and history["eval"][-1][1]["count"] == 10

    # pruning kept the newest two; each is a from_pretrained folder plus the resumable state
    assert [p.name for p in list_checkpoints(out)] == ["step_9", "step_12"]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step_12", "step_9"]
    ckpt = out / "checkpoints" / "step_12"
    state_files = {"optimizer.bin", "scheduler.bin", "random_states_0.pkl", "trainer_state.json"}
    assert state_files <= {p.name for p in ckpt.iterdir()}
    assert not (ckpt / "model.safetensors").exists()  # the weights live only in the save_pretrained folder
    torch.testing.assert_close(weights(ckpt / "ToyRegressionModel"), weights(out))
    state = json.loads((ckpt / "trainer_state.json").read_text())
    assert state["global_step"] == 12 and state["epoch"] == 1 and state["batches_in_epoch"] == 4

    # finish_training: final model, results and card
    assert {"config.json", "model.safetensors", "all_results.json", "README.md"} <= {p.name for p in out.iterdir()}
    results = json.loads((out / "all_results.json").read_text())
    assert results == {"eval_mse": history["eval"][-1][1]["mse"], "eval_count": 10}
    card = (out / "README.md").read_text()
    assert "library_name: hfvid" in card and "value: " in card


def test_checkpointing_every_epoch(tmp_path):
    history = run(tmp_path, "--num_train_epochs", "2", "--checkpointing_steps", "epoch")
    assert history["global_step"] == 16  # 32 samples / batch 4 = 8 steps per epoch
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_8", "step_16"]


def test_resume_after_crash_matches_uninterrupted_run(tmp_path):
    """Mid-epoch crash with accumulation, warm-up and cosine: the resumed run ends exactly where one run ends."""
    common = ["--max_train_steps", "6", "--gradient_accumulation_steps", "2", "--num_warmup_steps", "1",
              "--checkpointing_steps", "3"]  # fmt: skip
    reference = run(tmp_path / "reference", *common)

    with pytest.raises(RuntimeError, match="simulated crash after step 3"):
        run(tmp_path / "crashed", *common, "--crash_after_step", "3")
    assert [p.name for p in list_checkpoints(tmp_path / "crashed")] == ["step_3"]
    saved = json.loads((tmp_path / "crashed" / "checkpoints" / "step_3" / "trainer_state.json").read_text())
    assert (saved["epoch"], saved["batches_in_epoch"]) == (0, 6)  # 8 batches per epoch: mid-epoch
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()

    resumed = run(tmp_path / "crashed", *common, "--resume_from_checkpoint", "latest")
    info = json.loads((tmp_path / "crashed" / "run_info.json").read_text())
    assert info["micro_batches_run"] == 3 * 2  # only steps 4..6 were trained
    assert [s for s, _ in resumed["losses"]] == list(range(1, 7))
    assert resumed["losses"][:3] == [tuple(x) for x in saved["losses"]]
    # same data order and lr after resume: every loss and the final weights match the uninterrupted run
    torch.testing.assert_close(
        torch.tensor([l for _, l in resumed["losses"]]), torch.tensor([l for _, l in reference["losses"]])
    )
    torch.testing.assert_close(weights(tmp_path / "crashed"), weights(tmp_path / "reference"), atol=1e-6, rtol=0)


def test_resume_with_larger_step_budget(tmp_path):
    """Run 3 steps, then ask for 6 resuming from that checkpoint's path: steps 4..6 are added, nothing repeated."""
    run(tmp_path / "reference", "--max_train_steps", "6", "--lr_scheduler_type", "constant")
    first = run(tmp_path / "two", "--max_train_steps", "3", "--checkpointing_steps", "3",
                "--lr_scheduler_type", "constant")  # fmt: skip
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    second = run(
        tmp_path / "two", "--max_train_steps", "6", "--lr_scheduler_type", "constant",
        "--resume_from_checkpoint", str(tmp_path / "two" / "checkpoints" / "step_3"),
    )  # fmt: skip
    assert second["global_step"] == 6 and second["losses"][:3] == first["losses"]
    assert [s for s, _ in second["losses"]] == list(range(1, 7))
    assert json.loads((tmp_path / "two" / "run_info.json").read_text())["micro_batches_run"] == 3
    torch.testing.assert_close(weights(tmp_path / "two"), weights(tmp_path / "reference"), atol=1e-6, rtol=0)


def test_resume_latest_without_checkpoint_starts_fresh(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        history = run(tmp_path, "--max_train_steps", "2", "--resume_from_checkpoint", "latest")
    assert history["global_step"] == 2 and [s for s, _ in history["losses"]] == [1, 2]
    assert "no checkpoint" in caplog.text


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--checkpointing_steps", "often"], "checkpointing_steps"),
        (["--checkpointing_steps", "0"], "checkpointing_steps"),
        (["--report_to", "wandb", "--hub_token", "hf_x"], "security risk"),
        (["--report_to", "tensorboard,nope"], "unknown tracker"),
        (["--resume_from_checkpoint", "/does/not/exist"], "does not exist"),
        (["--lr_scheduler_type", "warp"], "lr_scheduler_type"),
        (["--gradient_accumulation_steps", "0"], "gradient_accumulation_steps"),
    ],
)
def test_validate_args_errors(tmp_path, extra, message):
    with pytest.raises(ValueError, match=message):
        toy.parse_args([*BASE, "--output_dir", str(tmp_path), *extra])


def test_validate_args_accepts_good_combinations(tmp_path):
    args = toy.parse_args([*BASE, "--output_dir", str(tmp_path), "--push_to_hub", "--checkpointing_steps", "5",
                           "--report_to", "tensorboard,wandb", "--resume_from_checkpoint", "latest"])  # fmt: skip
    assert args.checkpointing_steps == 5 and args.hub_model_id is None
    args.dataset_name = None
    with pytest.raises(ValueError, match="dataset_name"):
        validate_args(args)


def test_validate_args_dataset_names(tmp_path):
    args = toy.parse_args([*BASE, "--output_dir", str(tmp_path)])
    assert validate_args(args, dataset_names=(args.dataset_name,)) is args
    args.dataset_name = "imagenet"
    validate_args(args)  # no list: any name (scripts that load a Hub/disk dataset by name)
    message = r"--dataset_name must be 'synthetic' \(or give --dataset_format\), got 'imagenet'"
    with pytest.raises(ValueError, match=message):
        validate_args(args, dataset_names=("synthetic",), real_data="--dataset_format")


def test_init_trackers_config_is_scalar_and_secret_free(tmp_path):
    class RecordingAccelerator:
        def init_trackers(self, project_name, config):
            self.project_name, self.config = project_name, config

    flags = ["--report_to", "tensorboard", "--hub_token", "hf_x"]
    args = toy.parse_args([*BASE, "--output_dir", str(tmp_path), *flags])
    args.some_path = tmp_path
    accelerator = RecordingAccelerator()
    init_trackers(accelerator, "toy", args)
    assert accelerator.project_name == "toy" and "hub_token" not in accelerator.config
    assert accelerator.config["some_path"] == str(tmp_path) and accelerator.config["max_train_steps"] == "None"
    assert accelerator.config["learning_rate"] == 0.05 and accelerator.config["cpu"] is True
    args.report_to = "none"
    init_trackers(None, "toy", args)  # no trackers: nothing is called


@pytest.fixture
def launch_two_ranks(launch_script):
    """Runs the toy script on 2 real CPU ranks (the only launch form that gives 2 cooperating CPU processes)."""
    return lambda *script_args: launch_script(HERE / "toy_train_script.py", *BASE, *script_args, num_processes=2,
                                              timeout=240)


@pytest.mark.launch
def test_accelerate_launch_two_cpu_ranks(tmp_path, launch_two_ranks):
    launch_two_ranks("--output_dir", str(tmp_path), "--max_train_steps", "4", "--checkpointing_steps", "2")
    info = json.loads((tmp_path / "run_info.json").read_text())
    assert info["num_processes"] == 2 and info["distributed_type"] == "DistributedType.MULTI_CPU"
    assert info["train_batches_per_process"] == 4  # 32 samples / (2 ranks x batch 4)
    assert info["history"]["global_step"] == 4 and info["history"]["eval"][-1][1]["count"] == 10  # no duplicates
    assert {"config.json", "model.safetensors", "all_results.json"} <= {p.name for p in tmp_path.iterdir()}
    ckpt = tmp_path / "checkpoints" / "step_4"
    assert (ckpt / "random_states_1.pkl").is_file()
    torch.testing.assert_close(weights(ckpt / "ToyRegressionModel"), weights(tmp_path))


@pytest.mark.slow
@pytest.mark.launch
def test_two_rank_resume_matches_uninterrupted_run(tmp_path, launch_two_ranks):
    """Three launches (~60 s): 2 steps + resume to 4 on 2 ranks equals 4 straight steps on 2 ranks."""
    launch_two_ranks("--output_dir", str(tmp_path / "two"), "--max_train_steps", "2", "--checkpointing_steps", "2",
                     "--lr_scheduler_type", "constant")  # fmt: skip
    launch_two_ranks("--output_dir", str(tmp_path / "two"), "--max_train_steps", "4", "--resume_from_checkpoint",
                     "latest", "--lr_scheduler_type", "constant")  # fmt: skip
    launch_two_ranks("--output_dir", str(tmp_path / "reference"), "--max_train_steps", "4",
                     "--lr_scheduler_type", "constant")  # fmt: skip
    info = json.loads((tmp_path / "two" / "run_info.json").read_text())
    assert info["micro_batches_run"] == 2 and info["history"]["global_step"] == 4
    torch.testing.assert_close(weights(tmp_path / "two"), weights(tmp_path / "reference"), atol=1e-6, rtol=0)
