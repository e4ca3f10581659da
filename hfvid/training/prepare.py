"""The middle of every training script: dataloaders, ``accelerator.prepare``, lr schedule, loop, trackers, results.

A script reads::

    accelerator = make_accelerator(args)
    model, processor = build_model(args)
    train_loader, eval_loader = make_dataloaders(args, train_set, eval_set)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    training = prepare_training(accelerator, args, model, optimizer, train_loader, eval_loader,
                                project_name="my_method", processor=processor)
    history = training.loop.run(compute_loss, evaluate)
    finish_training(accelerator, args, training.model, processor, training_results(history, dataset=...))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from .loop import TrainingLoop, compute_max_train_steps, init_trackers, make_lr_scheduler


def make_dataloaders(args, train_set, eval_set=None, collate_fn=None) -> tuple:
    """``(train_loader, eval_loader)`` from the batch-size and worker flags; ``eval_loader`` is None without a set.

    The training loader shuffles (in the seeded order :func:`make_accelerator` sets up) and drops the ragged last
    batch, unless the set is smaller than one batch (then its single short batch is kept). It has its own seeded
    ``generator``, so iterating it draws nothing from the global torch RNG: a mid-epoch resume (which creates one
    more iterator) then leaves global-RNG draws inside the training step exactly as in an uninterrupted run.
    """
    common = dict(collate_fn=collate_fn, num_workers=args.dataloader_num_workers)
    batch_size = args.per_device_train_batch_size
    train_loader = torch.utils.data.DataLoader(
        train_set, batch_size=batch_size, shuffle=True, drop_last=len(train_set) > batch_size,
        generator=torch.Generator().manual_seed(args.seed), **common
    )
    eval_loader = None
    if eval_set is not None:
        eval_loader = torch.utils.data.DataLoader(eval_set, batch_size=args.per_device_eval_batch_size, **common)
    return train_loader, eval_loader


@dataclass
class PreparedTraining:
    """What :func:`prepare_training` returns: the prepared objects and the loop that trains them.

    ``eval_dataloader`` is None, one prepared loader, or a dict of them (as given).
    """

    model: torch.nn.Module
    optimizer: Any
    lr_scheduler: Any
    train_dataloader: Any
    eval_dataloader: Any
    loop: TrainingLoop


def prepare_training(
    accelerator,
    args,
    model,
    optimizer,
    train_dataloader,
    eval_dataloader=None,
    *,
    project_name: str,
    processor=None,
    make_scheduler: Callable[[Any, int], Any] | None = None,
) -> PreparedTraining:
    """``accelerator.prepare`` everything, build the lr schedule, create the :class:`TrainingLoop`, start trackers.

    The schedule is built after ``prepare`` because its length, ``compute_max_train_steps``, depends on the sharded
    training loader; ``make_scheduler(optimizer, num_training_steps)`` replaces the ``--lr_scheduler_type`` one
    (:func:`make_lr_scheduler`). The loop registers the checkpoint hooks and resumes ``--resume_from_checkpoint``
    when it runs; ``processor`` is saved beside each checkpoint's model. ``eval_dataloader`` may be a dict of loaders.
    """
    model, optimizer, train_dataloader = accelerator.prepare(model, optimizer, train_dataloader)
    if isinstance(eval_dataloader, dict):
        eval_dataloader = {name: accelerator.prepare(loader) for name, loader in eval_dataloader.items()}
    elif eval_dataloader is not None:
        eval_dataloader = accelerator.prepare(eval_dataloader)
    num_training_steps = compute_max_train_steps(args, train_dataloader)
    if make_scheduler is None:
        lr_scheduler = make_lr_scheduler(args, optimizer, num_training_steps)
    else:
        lr_scheduler = make_scheduler(optimizer, num_training_steps)
    lr_scheduler = accelerator.prepare(lr_scheduler)
    loop = TrainingLoop(accelerator, args, model, optimizer, lr_scheduler, train_dataloader, processor=processor)
    init_trackers(accelerator, project_name, args)
    return PreparedTraining(model, optimizer, lr_scheduler, train_dataloader, eval_dataloader, loop)


def training_results(history: dict, **extra) -> dict:
    """The results a script reports: the last evaluation's metrics, first/last training loss, steps, then ``extra``."""
    results = dict(history["eval"][-1][1]) if history["eval"] else {}
    results.update(
        train_loss_first=history["first_loss"], train_loss_last=history["last_loss"], train_steps=history["global_step"]
    )
    results.update(extra)
    return results


__all__ = ["PreparedTraining", "make_dataloaders", "prepare_training", "training_results"]
