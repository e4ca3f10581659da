"""Checkpoints that are both resumable (``accelerator.load_state``) and loadable with ``from_pretrained``.

A checkpoint is ``<output_dir>/checkpoints/step_<n>/`` holding what ``accelerator.save_state`` writes (optimizer,
scheduler, RNG states, ...), one ``save_pretrained`` folder per prepared ``PreTrainedModel`` (``<ClassName>/``,
thanks to :func:`register_pretrained_hooks`; a model holding a PEFT adapter is stored without its frozen base) and
``trainer_state.json`` (step, epoch, history). The JSON file is written last, so a folder without it is an
interrupted save and is never resumed from. Given the processor, :func:`save_checkpoint` stores it in the trained
model's folder too, so ``checkpoints/step_<n>/<ClassName>/`` loads in a pipeline like the final output folder.
Modules outside the optimised ones (an EMA copy, say) travel as ``extra_state``: ``<name>.safetensors`` per module,
instead of ``accelerator.register_for_checkpointing``, whose ``custom_checkpoint_<i>.pkl`` is read back with pickle.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

from accelerate.logging import get_logger


logger = get_logger(__name__, log_level="INFO")

TRAINER_STATE_NAME = "trainer_state.json"
TRAINABLE_STATE_PREFIX = "trainable_state"
_STEP_DIR = re.compile(r"^step_(\d+)$")


def _pretrained_folder_names(accelerator, models) -> dict[int, str]:
    """Map the index of each ``PreTrainedModel`` in ``models`` to its folder: ``ClassName`` (``_1``... if repeated)."""
    from transformers import PreTrainedModel

    names, seen = {}, {}
    for index, model in enumerate(models):
        unwrapped = accelerator.unwrap_model(model)
        if isinstance(unwrapped, PreTrainedModel):
            name = type(unwrapped).__name__
            seen[name] = seen.get(name, -1) + 1
            names[index] = name if seen[name] == 0 else f"{name}_{seen[name]}"
    return names


def _frozen_peft_parameters(model) -> set[str]:
    """State-dict names of the frozen base-model parameters inside any ``PeftModel`` within ``model``.

    They are the pretrained base weights, which the PEFT model reloads from its base checkpoint, so a training
    checkpoint need not copy them (for prompt learning on CLIP that is megabytes of frozen weights per checkpoint).
    """
    peft = sys.modules.get("peft")  # never imported: no model can hold a PeftModel (and importing peft is slow)
    if peft is None:
        return set()
    frozen = set()
    for prefix, module in model.named_modules():
        if isinstance(module, peft.PeftModel):
            for name, parameter in module.named_parameters(remove_duplicate=False):
                if not parameter.requires_grad:
                    frozen.add(f"{prefix}.{name}" if prefix else name)
    return frozen


def _trainable_state_file(output_dir, index: int) -> Path:
    return Path(output_dir) / f"{TRAINABLE_STATE_PREFIX}_{index}.safetensors"


def register_pretrained_hooks(accelerator) -> None:
    """Make ``save_state``/``load_state`` store models in the forms a user can reload, without redundant weights.

    - Every prepared ``PreTrainedModel`` goes to ``<dir>/<ClassName>/`` (config.json + model.safetensors), loadable
      with ``from_pretrained``; loading copies those weights into the existing model object, so prepared wrappers
      and optimizer references stay valid.
    - A model holding a ``PeftModel`` is stored without the PEFT model's frozen base parameters, as
      ``<dir>/trainable_state_<i>.safetensors``; loading restores everything else and checks that only those frozen
      parameters were absent.
    - Other models keep accelerate's own format.

    Handled models are popped from accelerate's lists so it neither writes nor looks for them a second time.
    FSDP/DeepSpeed hand accelerate no weights list; the hooks then do nothing. Registering twice registers once.
    """
    if getattr(accelerator, "_hfvid_pretrained_hooks", False):
        return

    def save_hook(models, weights, output_dir):
        if len(weights) != len(models):  # FSDP / DeepSpeed save the models themselves
            return
        names = _pretrained_folder_names(accelerator, models)
        for index in range(len(models) - 1, -1, -1):
            if index in names:
                if accelerator.is_main_process:
                    accelerator.unwrap_model(models[index]).save_pretrained(Path(output_dir) / names[index])
            elif frozen := _frozen_peft_parameters(models[index]):
                if accelerator.is_main_process:
                    from safetensors.torch import save_file

                    state = {k: v.detach().cpu().clone() for k, v in weights[index].items() if k not in frozen}
                    save_file(state, _trainable_state_file(output_dir, index))
            else:
                continue
            weights.pop(index)

    def load_hook(models, input_dir):
        names = _pretrained_folder_names(accelerator, models)
        for index in range(len(models) - 1, -1, -1):
            model = models[index]
            if index in names:
                model = accelerator.unwrap_model(model)
                loaded = type(model).from_pretrained(Path(input_dir) / names[index])
                model.load_state_dict(loaded.state_dict())
                del loaded
            elif (path := _trainable_state_file(input_dir, index)).is_file():
                from safetensors.torch import load_file

                missing, unexpected = model.load_state_dict(load_file(path), strict=False)
                not_frozen = set(missing) - _frozen_peft_parameters(model)
                if unexpected or not_frozen:
                    raise ValueError(
                        f"{path} does not match the model: unexpected keys {sorted(unexpected)[:5]}, missing "
                        f"trainable keys {sorted(not_frozen)[:5]}."
                    )
            else:
                continue
            models.pop(index)

    accelerator.register_save_state_pre_hook(save_hook)
    accelerator.register_load_state_pre_hook(load_hook)
    accelerator._hfvid_pretrained_hooks = True


def list_checkpoints(output_dir) -> list[Path]:
    """Complete checkpoints (those with ``trainer_state.json``) under ``<output_dir>/checkpoints``, oldest first."""
    root = Path(output_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _STEP_DIR.match(p.name)) and p.is_dir()]
    return [path for _, path in sorted(found) if (path / TRAINER_STATE_NAME).is_file()]


def find_resume_checkpoint(args) -> Path | None:
    """The folder ``--resume_from_checkpoint`` points to: a path, the newest checkpoint for "latest", or None.

    "latest" with no checkpoint yet logs a warning and returns None (training starts from scratch).
    """
    resume = args.resume_from_checkpoint
    if resume is None:
        return None
    if resume != "latest":
        path = Path(resume)
        if not (path / TRAINER_STATE_NAME).is_file():
            raise ValueError(f"{path} is not a complete hfvid checkpoint: it has no {TRAINER_STATE_NAME}.")
        return path
    checkpoints = list_checkpoints(args.output_dir)
    if not checkpoints:
        logger.warning(f"--resume_from_checkpoint latest: no checkpoint under {args.output_dir}; starting fresh")
        return None
    return checkpoints[-1]


def prune_checkpoints(output_dir, keep: int) -> None:
    """Delete the oldest folders under ``<output_dir>/checkpoints`` so that at most ``keep`` remain."""
    root = Path(output_dir) / "checkpoints"
    folders = sorted(
        (int(m.group(1)), p) for p in (root.iterdir() if root.is_dir() else []) if (m := _STEP_DIR.match(p.name))
    )
    for _, path in folders[: max(len(folders) - keep, 0)]:
        logger.info(f"Deleting old checkpoint {path} (checkpoints_total_limit)")
        shutil.rmtree(path)


_RESERVED_EXTRA_NAME = re.compile(rf"^(model|{TRAINABLE_STATE_PREFIX})(_\d+)?$")  # accelerate's / ours


def extra_state_file(checkpoint, name: str) -> Path:
    """Where the ``extra_state`` module ``name`` lives in a checkpoint: ``<checkpoint>/<name>.safetensors``."""
    if not isinstance(name, str) or not name.isidentifier() or _RESERVED_EXTRA_NAME.match(name):
        raise ValueError(
            f"extra_state name {name!r} must be a Python identifier other than model[_<i>] and "
            f"{TRAINABLE_STATE_PREFIX}[_<i>] (file names accelerate and hfvid already use in a checkpoint)."
        )
    return Path(checkpoint) / f"{name}.safetensors"


def save_extra_state(checkpoint, extra_state: dict) -> None:
    """Write each module's full state dict (parameters and buffers) as ``<checkpoint>/<name>.safetensors``."""
    from safetensors.torch import save_model

    for name, module in extra_state.items():
        save_model(module, str(extra_state_file(checkpoint, name)))


def load_extra_state(checkpoint, extra_state: dict) -> None:
    """Copy ``<checkpoint>/<name>.safetensors`` into each module in place (strict: every key must match)."""
    from safetensors.torch import load_model

    for name, module in extra_state.items():
        path = extra_state_file(checkpoint, name)
        if not path.is_file():
            raise FileNotFoundError(
                f"Checkpoint {checkpoint} has no {path.name} for extra_state {name!r}: it was saved without it."
            )
        load_model(module, path, strict=True)  # load_state_dict copies onto the module's own device


def save_checkpoint(accelerator, args, trainer_state: dict, model=None, processor=None, extra_state=None) -> Path:
    """``save_state`` to ``checkpoints/step_<global_step>`` after pruning, then write ``trainer_state.json``.

    With ``model`` (a prepared ``PreTrainedModel``) and ``processor``, the processor is saved next to the model's
    weights in ``<ClassName>/``, which makes that folder loadable by ``pipeline(task, model=folder)``.
    ``extra_state`` (``{name: module}``) is written as ``<name>.safetensors`` (see :func:`save_extra_state`).
    """
    path = Path(args.output_dir) / "checkpoints" / f"step_{trainer_state['global_step']}"
    if accelerator.is_main_process and args.checkpoints_total_limit is not None:
        prune_checkpoints(args.output_dir, keep=args.checkpoints_total_limit - 1)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(path))
    if accelerator.is_main_process:
        if extra_state:
            save_extra_state(path, extra_state)
        if processor is not None and model is not None:
            folder = pretrained_folder(accelerator, path, model)
            if folder is not None:
                processor.save_pretrained(folder)
        (path / TRAINER_STATE_NAME).write_text(json.dumps(trainer_state, indent=2))
    accelerator.wait_for_everyone()
    logger.info(f"Saved checkpoint {path}")
    return path


def pretrained_folder(accelerator, checkpoint, model) -> Path | None:
    """The ``save_pretrained`` folder of ``model`` inside a checkpoint (``<ClassName>/``), or None if it has none
    (not a ``PreTrainedModel``, e.g. a PEFT adapter's trainable state, or saved by FSDP/DeepSpeed)."""
    folder = Path(checkpoint) / type(accelerator.unwrap_model(model)).__name__
    return folder if (folder / "config.json").is_file() else None


def load_trainer_state(path) -> dict:
    """Read ``trainer_state.json`` of a checkpoint folder."""
    return json.loads((Path(path) / TRAINER_STATE_NAME).read_text())


__all__ = [
    "TRAINER_STATE_NAME",
    "extra_state_file",
    "find_resume_checkpoint",
    "list_checkpoints",
    "load_extra_state",
    "load_trainer_state",
    "pretrained_folder",
    "prune_checkpoints",
    "register_pretrained_hooks",
    "save_checkpoint",
    "save_extra_state",
]
