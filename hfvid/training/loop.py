"""The Accelerator set-up, step budget, lr schedule, training loop and gathered evaluation every script shares.

Data order across resume: :func:`make_accelerator` turns on accelerate's seedable sampler
(``DataLoaderConfiguration(use_seedable_sampler=True, data_seed=args.seed)``), so the shuffled order of epoch ``e``
is a pure function of ``(args.seed, e)``; the loop calls ``set_epoch(e)`` before each epoch and skips the batches a
checkpoint already consumed with ``skip_first_batches``. Weights, optimizer, scheduler, gradient scaler and the
python/numpy/torch RNG states come back through ``accelerator.load_state``. What is *not* bit-identical after a
mid-epoch resume of a loader without its own ``generator``: randomness drawn from the global torch RNG inside the
step (e.g. dropout), because creating the new epoch iterator draws one number from it; dataloader workers' seeds
likewise. :func:`hfvid.training.make_dataloaders` gives the training loader a seeded generator for that reason.
"""

from __future__ import annotations

import logging
import math
import os

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import DataLoaderConfiguration, DistributedDataParallelKwargs, ProjectConfiguration, set_seed
from tqdm.auto import tqdm

from .args import report_to_trackers
from .checkpointing import (
    extra_state_file,
    find_resume_checkpoint,
    load_extra_state,
    load_trainer_state,
    register_pretrained_hooks,
    save_checkpoint,
)


logger = get_logger(__name__, log_level="INFO")


def make_accelerator(args, find_unused_parameters: bool = False) -> Accelerator:
    """Build the Accelerator from the standard flags, set up logging, seed everything, create ``output_dir``.

    Logs go to ``<output_dir>/logs`` when ``--report_to`` names trackers. The seedable sampler makes the data
    order reproducible across resume (see the module docstring).
    """
    accelerator = Accelerator(
        cpu=args.cpu,
        mixed_precision=args.mixed_precision,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        log_with=report_to_trackers(args.report_to),
        project_config=ProjectConfiguration(
            project_dir=args.output_dir,
            logging_dir=os.path.join(args.output_dir, "logs"),
            automatic_checkpoint_naming=False,
        ),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=args.seed),
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=find_unused_parameters)],
    )
    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", datefmt="%m/%d/%Y %H:%M:%S", level=logging.INFO
    )
    logger.info(accelerator.state, main_process_only=False)
    import datasets
    import transformers

    if accelerator.is_local_main_process:
        datasets.utils.logging.set_verbosity_warning()
        transformers.utils.logging.set_verbosity_warning()
    else:
        datasets.utils.logging.set_verbosity_error()
        transformers.utils.logging.set_verbosity_error()
    set_seed(args.seed)
    if accelerator.is_main_process:
        os.makedirs(args.output_dir, exist_ok=True)
    accelerator.wait_for_everyone()
    return accelerator


def init_trackers(accelerator: Accelerator, project_name: str, args) -> None:
    """Start the ``--report_to`` trackers with the run's flags (non-scalars stringified, ``hub_token`` dropped)."""
    if report_to_trackers(args.report_to) is None:
        return
    config = {
        key: value if isinstance(value, (int, float, str, bool)) else str(value)
        for key, value in vars(args).items()
        if key != "hub_token"
    }
    accelerator.init_trackers(project_name, config=config)


def compute_max_train_steps(args, train_dataloader, batches_per_step: int = 1) -> int:
    """The step budget: ``--max_train_steps``, else epochs * optimizer steps per epoch of the *prepared* loader.

    ``batches_per_step``: loader batches one step consumes per accumulation micro-step (a GAN step that also runs
    ``n_critic`` critic updates uses ``n_critic + 1``).
    """
    if args.max_train_steps is not None:
        return args.max_train_steps
    batches = args.gradient_accumulation_steps * batches_per_step
    return args.num_train_epochs * math.ceil(len(train_dataloader) / batches)


def make_lr_scheduler(args, optimizer, num_training_steps: int):
    """``transformers.get_scheduler`` for ``num_training_steps`` optimizer steps of one process.

    A prepared scheduler steps ``num_processes`` times per optimizer step (accelerate assumes the global batch
    grew with the process count), so warm-up and total steps are multiplied by ``num_processes``, as accelerate's
    examples do. Accepts a raw or a prepared optimizer, so the scheduler can be built after ``prepare`` once the
    per-process step count is known.
    """
    from accelerate import PartialState
    from transformers import get_scheduler

    num_processes = PartialState().num_processes
    return get_scheduler(
        args.lr_scheduler_type,
        optimizer=getattr(optimizer, "optimizer", optimizer),
        num_warmup_steps=args.num_warmup_steps * num_processes,
        num_training_steps=num_training_steps * num_processes,
    )


class TrainingLoop:
    """Step counting with accumulation, clipping, logging, evaluation, checkpoints and a real resume.

    All objects must already be prepared. Give ``processor`` (what ``finish_training`` saves) to have every
    checkpoint's model folder loadable by a pipeline too. ``extra_state`` (``{name: module}``, e.g. an EMA copy
    the optimizer does not see) is checkpointed as ``<name>.safetensors`` and restored on resume, never pickled.
    ``batches_per_step`` (see ``compute_max_train_steps``) sizes the epoch-based budget of a multi-batch step.
    ``run`` returns the history
    ``{"losses": [(step, loss)], "eval": [(step, metrics)], "global_step", "first_loss", "last_loss"}``;
    losses are the mean over the step's micro-batches and over processes.
    """

    def __init__(self, accelerator, args, model, optimizer, lr_scheduler, train_dataloader, processor=None,
                 extra_state=None, batches_per_step=1):
        self.accelerator, self.args, self.processor = accelerator, args, processor
        self.extra_state = dict(extra_state or {})
        for name in self.extra_state:
            extra_state_file(".", name)  # a bad name fails now, not at the first checkpoint
        self.model, self.optimizer, self.lr_scheduler = model, optimizer, lr_scheduler
        self.train_dataloader = train_dataloader
        if len(train_dataloader) == 0:
            raise ValueError("The training dataloader is empty.")
        self.max_train_steps = compute_max_train_steps(args, train_dataloader, batches_per_step)
        self.global_step, self.epoch, self.batches_in_epoch = 0, 0, 0
        self.losses, self.evals = [], []
        register_pretrained_hooks(accelerator)

    def trainer_state(self) -> dict:
        """What a checkpoint needs beyond ``save_state``: position in the data and the history so far."""
        return {
            "global_step": self.global_step,
            "epoch": self.epoch,
            "batches_in_epoch": self.batches_in_epoch,
            "max_train_steps": self.max_train_steps,
            "num_processes": self.accelerator.num_processes,
            "losses": self.losses,
            "eval": self.evals,
        }

    def resume(self) -> None:
        """Load the ``--resume_from_checkpoint`` state (if any) and continue from its step and data position."""
        path = find_resume_checkpoint(self.args)
        if path is None:
            return
        self.accelerator.load_state(str(path))
        load_extra_state(path, self.extra_state)
        state = load_trainer_state(path)
        if state["num_processes"] != self.accelerator.num_processes:
            logger.warning(f"{path} was saved with {state['num_processes']} processes; data position may differ.")
        self.global_step, self.epoch = state["global_step"], state["epoch"]
        self.batches_in_epoch = state["batches_in_epoch"]
        self.losses = [tuple(item) for item in state["losses"]]
        self.evals = [tuple(item) for item in state["eval"]]
        logger.info(f"Resumed from {path}: step {self.global_step}, epoch {self.epoch}, batch {self.batches_in_epoch}")

    def _epoch_batches(self):
        """This epoch's loader in its seeded order, minus the batches a resumed checkpoint already consumed.

        Datasets with per-epoch randomness (augmentation) get ``set_epoch`` too: accelerate only forwards it to the
        dataset when the sampler has none, and its seedable sampler does.
        """
        self.train_dataloader.set_epoch(self.epoch)
        dataset = getattr(self.train_dataloader, "dataset", None)
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(self.epoch)
        if self.batches_in_epoch:
            return self.accelerator.skip_first_batches(self.train_dataloader, self.batches_in_epoch)
        return self.train_dataloader

    def _evaluate(self, evaluate) -> None:
        metrics = evaluate()
        self.model.train()
        if metrics is not None:
            metrics = {k: v.item() if hasattr(v, "item") else v for k, v in metrics.items()}  # JSON-able scalars
            self.evals.append((self.global_step, metrics))
            self.accelerator.log({f"eval_{k}": v for k, v in metrics.items()}, step=self.global_step)
            logger.info(f"step {self.global_step}: {metrics}")

    def run(self, compute_loss, evaluate=None, train_step=None) -> dict:
        """Train until ``max_train_steps``; ``compute_loss(model, batch) -> loss``, ``evaluate() -> dict | None``.

        ``train_step(batch) -> loss | None`` replaces the built-in backward/clip/optimizer step (``compute_loss``
        is then unused) for steps the loop cannot express, e.g. a GAN's critic and generator updates: it is called
        once per batch and returns the loss of the optimizer step the batch completed, or None while the step
        still needs batches. Checkpoints fall between completed steps, so its state is empty there.
        """
        args, accelerator = self.args, self.accelerator
        self.resume()
        logger.info(
            f"***** Running training ***** {len(self.train_dataloader)} batches/epoch/process, "
            f"{accelerator.num_processes} processes, accumulation {args.gradient_accumulation_steps}, "
            f"{self.max_train_steps} optimizer steps, starting at {self.global_step}"
        )
        progress = tqdm(
            total=self.max_train_steps, initial=self.global_step, disable=not accelerator.is_local_main_process
        )
        self.model.train()
        window = []
        while self.global_step < self.max_train_steps:
            step_loss, micro_batches = 0.0, 0
            for batch in self._epoch_batches():
                self.batches_in_epoch += 1
                if train_step is not None:
                    step_loss, micro_batches = train_step(batch), 1
                    if step_loss is None:
                        continue
                    step_loss = step_loss.detach().float()
                else:
                    with accelerator.accumulate(self.model):
                        loss = compute_loss(self.model, batch)
                        accelerator.backward(loss)
                        if accelerator.sync_gradients and args.max_grad_norm:
                            accelerator.clip_grad_norm_(self.model.parameters(), args.max_grad_norm)
                        self.optimizer.step()
                        self.lr_scheduler.step()
                        self.optimizer.zero_grad()
                    step_loss, micro_batches = step_loss + loss.detach().float(), micro_batches + 1
                    if not accelerator.sync_gradients:
                        continue

                self.global_step += 1
                loss_value = accelerator.reduce(step_loss / micro_batches, reduction="mean").item()
                step_loss, micro_batches = 0.0, 0
                self.losses.append((self.global_step, loss_value))
                window.append(loss_value)
                progress.update(1)
                progress.set_postfix(loss=f"{loss_value:.4g}")
                epoch_done = self.batches_in_epoch >= len(self.train_dataloader)
                if epoch_done:
                    self.epoch, self.batches_in_epoch = self.epoch + 1, 0

                if self.global_step % args.logging_steps == 0:
                    lr = self.lr_scheduler.get_last_lr()[0]
                    accelerator.log({"train_loss": sum(window) / len(window), "lr": lr}, step=self.global_step)
                    window = []
                if evaluate is not None and args.eval_steps and self.global_step % args.eval_steps == 0:
                    self._evaluate(evaluate)
                every = args.checkpointing_steps  # validate_args made it an int or "epoch"
                if (every == "epoch" and epoch_done) or (isinstance(every, int) and self.global_step % every == 0):
                    save_checkpoint(accelerator, args, self.trainer_state(), self.model, self.processor,
                                    extra_state=self.extra_state)
                if self.global_step >= self.max_train_steps:
                    break
            else:
                if self.batches_in_epoch:  # the loader yielded fewer batches than len() announced
                    self.epoch, self.batches_in_epoch = self.epoch + 1, 0
        progress.close()
        if evaluate is not None and (not self.evals or self.evals[-1][0] != self.global_step):
            self._evaluate(evaluate)
        return {
            "losses": list(self.losses),
            "eval": list(self.evals),
            "global_step": self.global_step,
            "first_loss": self.losses[0][1] if self.losses else None,
            "last_loss": self.losses[-1][1] if self.losses else None,
        }


def evaluate_predictions(accelerator, model, dataloader, predict) -> tuple:
    """Run ``predict(model, batch) -> tensor | tuple[tensor, ...]`` over a prepared loader; gather across processes.

    Runs in eval mode under ``torch.no_grad()``, gathers with ``gather_for_metrics`` (which drops the samples
    padded in to even out the last batch), and returns one concatenated numpy array per output, in order.
    """
    was_training = model.training
    model.eval()
    chunks = []
    with torch.no_grad():
        for batch in dataloader:
            outputs = predict(model, batch)
            outputs = (outputs,) if isinstance(outputs, torch.Tensor) else tuple(outputs)
            gathered = accelerator.gather_for_metrics(outputs)
            chunks.append([t.detach().cpu() for t in gathered])
    model.train(was_training)
    if not chunks:
        return ()
    arrays = []
    for parts in zip(*chunks):
        joined = torch.cat([p.reshape(1) if p.dim() == 0 else p for p in parts])
        arrays.append((joined.float() if joined.dtype == torch.bfloat16 else joined).numpy())
    return tuple(arrays)


__all__ = [
    "TrainingLoop",
    "compute_max_train_steps",
    "evaluate_predictions",
    "init_trackers",
    "make_accelerator",
    "make_lr_scheduler",
]
