"""Unit tests of hfvid.training.prepare: dataloaders from flags, prepare_training's objects and schedule, results."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch


HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import toy_train_script as toy  # noqa: E402

from hfvid.training import (  # noqa: E402
    PreparedTraining,
    TrainingLoop,
    make_accelerator,
    make_dataloaders,
    make_parser,
    prepare_training,
    training_results,
)


def toy_args(tmp_path, *extra):
    base = ["--dataset_name", "synthetic", "--cpu", "--output_dir", str(tmp_path), "--per_device_train_batch_size"]
    return toy.parse_args([*base, "4", "--per_device_eval_batch_size", "3", *extra])


def test_make_parser_has_the_shared_flags_and_keeps_the_docstring_layout():
    parser = make_parser("Title.\n\n    accelerate launch x.py --a 1")
    args = parser.parse_args(["--output_dir", "o", "--train_dir", "d", "--max_train_steps", "5"])
    assert (args.output_dir, args.train_dir, args.max_train_steps, args.report_to) == ("o", "d", 5, "none")
    assert "    accelerate launch x.py --a 1" in parser.format_help()
    with pytest.raises(SystemExit):
        parser.parse_args(["--train_dir", "d"])  # --output_dir is required


def test_make_dataloaders_batch_sizes_drop_last_and_no_eval_set(tmp_path):
    args = toy_args(tmp_path)
    train, evaluation = make_dataloaders(args, toy.ToyDataset(10), toy.ToyDataset(7, seed=1))
    assert [len(b["inputs"]) for b in train] == [4, 4]  # the ragged last batch is dropped
    assert [len(b["inputs"]) for b in evaluation] == [3, 3, 1]  # evaluation keeps every sample
    small, none = make_dataloaders(args, toy.ToyDataset(3))
    assert none is None and [len(b["inputs"]) for b in small] == [3]  # smaller than a batch: kept, not empty
    collated, _ = make_dataloaders(args, toy.ToyDataset(8), collate_fn=lambda items: len(items))
    assert list(collated) == [4, 4]


def test_prepare_training_prepares_schedules_for_the_step_budget_and_builds_the_loop(tmp_path):
    args = toy_args(tmp_path, "--lr_scheduler_type", "linear", "--num_train_epochs", "3", "--learning_rate", "0.1")
    accelerator = make_accelerator(args)
    model = toy.ToyRegressionModel(toy.ToyRegressionConfig())
    optimizer = torch.optim.SGD(model.parameters(), lr=args.learning_rate)
    train, evaluation = make_dataloaders(args, toy.ToyDataset(16), toy.ToyDataset(6, seed=1))
    training = prepare_training(accelerator, args, model, optimizer, train, {"a": evaluation},
                                project_name="toy", processor="the-processor")
    assert isinstance(training, PreparedTraining) and isinstance(training.loop, TrainingLoop)
    assert training.loop.model is training.model and training.loop.processor == "the-processor"
    assert training.loop.max_train_steps == 12  # 3 epochs x 4 batches
    assert len(accelerator._dataloaders) == 2 and training.eval_dataloader["a"] in accelerator._dataloaders
    assert training.lr_scheduler in accelerator._schedulers and training.optimizer in accelerator._optimizers
    for _ in range(12):  # a linear schedule over exactly the loop's budget ends at zero
        training.optimizer.step()
        training.lr_scheduler.step()
    assert training.lr_scheduler.get_last_lr()[0] == pytest.approx(0.0)


def test_prepare_training_make_scheduler_replaces_the_flag_schedule(tmp_path):
    args = toy_args(tmp_path, "--max_train_steps", "7")
    accelerator = make_accelerator(args)
    model = toy.ToyRegressionModel(toy.ToyRegressionConfig())
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    seen = []

    def make_scheduler(prepared_optimizer, steps):
        seen.append(steps)
        return torch.optim.lr_scheduler.LambdaLR(prepared_optimizer.optimizer, lambda step: 0.5)

    train, _ = make_dataloaders(args, toy.ToyDataset(8))
    training = prepare_training(accelerator, args, model, optimizer, train, project_name="toy",
                                make_scheduler=make_scheduler)
    assert seen == [7] and training.eval_dataloader is None
    assert training.lr_scheduler.get_last_lr() == [0.5]


def test_training_results_puts_eval_metrics_then_losses_then_extras():
    history = {"eval": [(2, {"mse": 3.0}), (4, {"mse": 1.0})], "first_loss": 9.0, "last_loss": 2.0, "global_step": 4}
    assert training_results(history, dataset="synthetic") == {
        "mse": 1.0, "train_loss_first": 9.0, "train_loss_last": 2.0, "train_steps": 4, "dataset": "synthetic"
    }
    assert training_results({"eval": [], "first_loss": None, "last_loss": None, "global_step": 0}) == {
        "train_loss_first": None, "train_loss_last": None, "train_steps": 0
    }
