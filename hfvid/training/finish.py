"""The end of every training script: the final ``save_pretrained`` folder, results, model card, optional upload."""

from __future__ import annotations

import json
import numbers
from pathlib import Path

from accelerate.logging import get_logger


logger = get_logger(__name__, log_level="INFO")


def _json_value(value):
    """Plain Python numbers for JSON (numpy and 0-d torch scalars have ``.item()``)."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        return value.item()
    return value


def finish_training(accelerator, args, model, processor=None, results=None, card_kwargs=None) -> Path:
    """Save the model (+ processor) to ``args.output_dir``, write ``all_results.json`` and ``README.md``, push if asked.

    Every process must call it (the state dict is gathered collectively under FSDP/DeepSpeed); files are written by
    the main process only. ``results`` are the final metrics (stored as ``eval_<name>`` in ``all_results.json``, and
    passed as they are to ``hfvid.hub.render_model_card(config, results, args, **card_kwargs)``). With
    ``--push_to_hub`` the folder goes to ``--hub_model_id`` (default: the output folder's name). Ends the trackers.
    """
    output_dir = Path(args.output_dir)
    results = {key: _json_value(value) for key, value in (results or {}).items()}
    accelerator.wait_for_everyone()
    unwrapped = accelerator.unwrap_model(model)
    state_dict = accelerator.get_state_dict(model)
    unwrapped.save_pretrained(
        output_dir, state_dict=state_dict, is_main_process=accelerator.is_main_process, save_function=accelerator.save
    )
    if accelerator.is_main_process:
        if processor is not None:
            processor.save_pretrained(output_dir)
        all_results = {
            key if key.startswith("eval_") else f"eval_{key}": value
            for key, value in results.items()
            if isinstance(value, (numbers.Number, str, bool))
        }
        (output_dir / "all_results.json").write_text(json.dumps(all_results, indent=2))
        _write_card_and_publish(args, unwrapped.config, results, card_kwargs or {})
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return output_dir


def _write_card_and_publish(args, config, results, card_kwargs) -> None:
    """Render ``README.md`` with ``hfvid.hub`` (imported here: only the end of training needs it) and push if asked."""
    from hfvid import hub

    card = hub.render_model_card(config, results, args, **card_kwargs)
    card.save(Path(args.output_dir) / "README.md")
    if args.push_to_hub:
        repo_id = args.hub_model_id or Path(args.output_dir).name
        url = hub.publish(args.output_dir, repo_id, token=args.hub_token, private=args.hub_private_repo)
        logger.info(f"Pushed {args.output_dir} to {url}")


__all__ = ["finish_training"]
