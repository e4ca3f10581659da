"""What every hfvid training script shares: flags, Accelerator set-up, ``prepare_training`` (prepare, lr schedule,
loop with checkpoint/resume, trackers), gathered evaluation, and the final save + model card + publish.
See ``training_scripts/`` for users."""

from .args import (
    add_data_args,
    add_training_args,
    make_parser,
    parse_config_overrides,
    report_to_trackers,
    validate_args,
)
from .checkpointing import find_resume_checkpoint, list_checkpoints, register_pretrained_hooks, save_checkpoint
from .finish import finish_training
from .loop import (
    TrainingLoop,
    compute_max_train_steps,
    evaluate_predictions,
    init_trackers,
    make_accelerator,
    make_lr_scheduler,
)
from .prepare import PreparedTraining, make_dataloaders, prepare_training, training_results


__all__ = [
    "PreparedTraining",
    "TrainingLoop",
    "add_data_args",
    "add_training_args",
    "compute_max_train_steps",
    "evaluate_predictions",
    "find_resume_checkpoint",
    "finish_training",
    "init_trackers",
    "list_checkpoints",
    "make_accelerator",
    "make_dataloaders",
    "make_lr_scheduler",
    "make_parser",
    "parse_config_overrides",
    "prepare_training",
    "register_pretrained_hooks",
    "report_to_trackers",
    "save_checkpoint",
    "training_results",
    "validate_args",
]
