"""The command-line flags every hfvid training script shares, with the standard Hugging Face names.

Scripts build their parser as ``parser = make_parser(__doc__)`` (the shared data and training flags), add their own
flags and call ``validate_args(args)`` after parsing, so bad combinations fail before any model is built.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
from pathlib import Path


logger = logging.getLogger(__name__)

TRACKERS = ("all", "aim", "tensorboard", "wandb", "trackio", "comet_ml", "mlflow", "clearml", "dvclive", "swanlab")


def add_data_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the data flags: built-in synthetic data (``--dataset_name synthetic``) or real files on disk."""
    group = parser.add_argument_group("data")
    group.add_argument("--dataset_name", type=str, default=None, help='"synthetic" for built-in synthetic data.')
    group.add_argument("--train_dir", type=str, default=None, help="Folder with the training images or videos.")
    group.add_argument("--annotations", type=str, default=None, help="Annotation file or folder of the training set.")
    group.add_argument("--validation_dir", type=str, default=None, help="Folder with the validation data.")
    group.add_argument("--validation_annotations", type=str, default=None, help="Annotations of the validation set.")
    group.add_argument("--max_train_samples", type=int, default=None, help="Truncate the training set (debugging).")
    group.add_argument("--max_eval_samples", type=int, default=None, help="Truncate the evaluation set (debugging).")
    group.add_argument("--dataloader_num_workers", type=int, default=0, help="Worker processes per dataloader.")
    return parser


def add_training_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the optimisation, checkpointing, tracking and Hub flags (names as in the transformers/diffusers examples)."""
    group = parser.add_argument_group("training")
    group.add_argument("--output_dir", type=str, required=True, help="Where checkpoints and the final model go.")
    group.add_argument("--seed", type=int, default=42, help="Seed of model init and data order.")
    group.add_argument("--per_device_train_batch_size", type=int, default=8)
    group.add_argument("--per_device_eval_batch_size", type=int, default=8)
    group.add_argument("--learning_rate", type=float, default=1e-4)
    group.add_argument("--weight_decay", type=float, default=0.0)
    group.add_argument("--num_train_epochs", type=int, default=1)
    group.add_argument("--max_train_steps", type=int, default=None, help="Optimizer steps; overrides epochs.")
    group.add_argument("--gradient_accumulation_steps", type=int, default=1)
    group.add_argument(
        "--lr_scheduler_type", type=str, default="cosine", help="A transformers SchedulerType name (linear, cosine...)."
    )
    group.add_argument("--num_warmup_steps", type=int, default=0)
    group.add_argument("--max_grad_norm", type=float, default=1.0, help="Gradient clipping; 0 disables it.")
    group.add_argument(
        "--mixed_precision", type=str, default=None, choices=["no", "fp16", "bf16"], help="Default: accelerate config."
    )
    group.add_argument("--cpu", action="store_true", help="Train on the CPU even when an accelerator is present.")
    group.add_argument(
        "--checkpointing_steps", type=str, default=None, help='Save state every N steps, or "epoch"; off by default.'
    )
    group.add_argument("--checkpoints_total_limit", type=int, default=None, help="Keep at most this many checkpoints.")
    group.add_argument(
        "--resume_from_checkpoint", type=str, default=None, help='A checkpoint folder, or "latest" in output_dir.'
    )
    group.add_argument("--eval_steps", type=int, default=None, help="Evaluate every N steps (always at the end).")
    group.add_argument("--logging_steps", type=int, default=10, help="Log the training loss every N steps.")
    group.add_argument(
        "--report_to", type=str, default="none", help='"none", "all", or trackers as a comma list: "tensorboard,wandb".'
    )
    group.add_argument("--push_to_hub", action="store_true", help="Upload the final model folder to the Hub.")
    group.add_argument("--hub_model_id", type=str, default=None, help="Repo id; defaults to the output_dir name.")
    group.add_argument("--hub_token", type=str, default=None)
    group.add_argument("--hub_private_repo", action="store_true")
    return parser


def make_parser(description: str | None) -> argparse.ArgumentParser:
    """A training script's parser: ``description`` (its docstring, layout kept) as help, the data and training flags."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(parser)
    add_training_args(parser)
    return parser


def parse_config_overrides(text: str | None) -> dict:
    """``--config_overrides`` -> config kwargs: "a=1,b=group,c=[1,2]" -> {"a": 1, "b": "group", "c": [1, 2]}.

    Values are JSON where they parse (numbers, booleans, lists), bare strings otherwise; commas inside a value
    are kept (items split only before ``key=``).
    """
    overrides = {}
    for item in re.split(r",(?=\s*[A-Za-z_]\w*\s*=)", text or ""):
        if not item.strip():
            continue
        key, separator, value = item.partition("=")
        if not separator:
            raise ValueError(f"--config_overrides items must look like key=value, got {item!r}")
        try:
            overrides[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key.strip()] = value.strip()
    return overrides


def report_to_trackers(report_to: str | None) -> str | list[str] | None:
    """``--report_to`` as ``Accelerator(log_with=...)`` wants it: None, "all" or a list of tracker names."""
    names = [name.strip() for name in (report_to or "none").split(",") if name.strip()]
    if not names or names == ["none"]:
        return None
    return "all" if "all" in names else names


def validate_args(
    args: argparse.Namespace, dataset_names: tuple[str, ...] | None = None, real_data: str = "--train_dir"
) -> argparse.Namespace:
    """Raise ``ValueError`` for bad flag combinations; normalise ``checkpointing_steps`` to an int or "epoch".

    ``dataset_names``: the only ``--dataset_name`` values the script knows (e.g. ``("synthetic",)``; None: any, for
    scripts that also take a Hub/disk dataset there); ``real_data`` names the flag(s) that give real data instead.
    ``--resume_from_checkpoint latest`` with no checkpoint yet is not an error: training starts from scratch with a
    warning (logged by the training loop when it looks). Returns ``args`` for chaining.
    """
    name = getattr(args, "dataset_name", None)
    if dataset_names is not None and name is not None and name not in dataset_names:
        raise ValueError(f"--dataset_name must be {' or '.join(map(repr, dataset_names))} (or give {real_data}), "
                         f"got {name!r}")
    if hasattr(args, "dataset_name") and args.dataset_name is None and args.train_dir is None:
        raise ValueError("Need --dataset_name (e.g. synthetic) or --train_dir.")

    steps = args.checkpointing_steps
    if steps is not None and steps != "epoch":
        if isinstance(steps, str) and not steps.isdigit():
            raise ValueError(f'--checkpointing_steps must be a positive integer or "epoch", got {steps!r}.')
        args.checkpointing_steps = int(steps)
        if args.checkpointing_steps < 1:
            raise ValueError(f"--checkpointing_steps must be >= 1, got {steps!r}.")

    for name in ("gradient_accumulation_steps", "num_train_epochs", "logging_steps", "per_device_train_batch_size"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(args, name)}.")
    for name in ("max_train_steps", "eval_steps", "checkpoints_total_limit"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1 when given, got {getattr(args, name)}.")
    if args.num_warmup_steps < 0:
        raise ValueError(f"--num_warmup_steps must be >= 0, got {args.num_warmup_steps}.")

    from transformers import SchedulerType  # lazy: transformers costs seconds to import

    if args.lr_scheduler_type not in {s.value for s in SchedulerType}:
        raise ValueError(
            f"--lr_scheduler_type {args.lr_scheduler_type!r} is not one of {sorted(s.value for s in SchedulerType)}."
        )

    trackers = report_to_trackers(args.report_to)
    unknown = [name for name in (trackers if isinstance(trackers, list) else []) if name not in TRACKERS]
    if unknown:
        raise ValueError(f"--report_to: unknown tracker(s) {unknown}; choose from none, {', '.join(TRACKERS)}.")
    if args.hub_token is not None and trackers is not None and (trackers == "all" or "wandb" in trackers):
        raise ValueError(
            "You cannot use both --report_to=wandb and --hub_token due to a security risk of exposing your token. "
            "Please use `hf auth login` to authenticate with the Hub."
        )

    resume = args.resume_from_checkpoint
    if resume is not None and resume != "latest" and not Path(resume).is_dir():
        raise ValueError(f"--resume_from_checkpoint {resume!r} does not exist (give a checkpoint folder or 'latest').")
    return args


__all__ = [
    "TRACKERS",
    "add_data_args",
    "add_training_args",
    "make_parser",
    "parse_config_overrides",
    "report_to_trackers",
    "validate_args",
]
