"""A toy training script built from ``hfvid.training``: linear regression with a tiny ``PreTrainedModel``.

It has the shape every ``training_scripts/train_<method>.py`` has (``parse_args`` + ``main``) and is run both
in-process by the tests and under ``accelerate launch``. ``--crash_after_step N`` raises right after step N (and
its checkpoint) to simulate an interrupted run. ``run_info.json`` records what the run saw.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel
from transformers.utils import ModelOutput

from hfvid.training import (evaluate_predictions, finish_training, make_accelerator, make_dataloaders, make_parser,
                            prepare_training, validate_args)


class ToyRegressionConfig(PreTrainedConfig):
    model_type = "hfvid-toy-regression"

    def __init__(self, in_features: int = 4, **kwargs):
        self.in_features = in_features
        super().__init__(**kwargs)


@dataclass
class ToyRegressionOutput(ModelOutput):
    loss: torch.Tensor | None = None
    predictions: torch.Tensor | None = None


class ToyRegressionModel(PreTrainedModel):
    config_class = ToyRegressionConfig
    base_model_prefix = "toy"
    main_input_name = "inputs"

    def __init__(self, config: ToyRegressionConfig):
        super().__init__(config)
        self.linear = nn.Linear(config.in_features, 1)
        self.post_init()

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.1)
            nn.init.zeros_(module.bias)

    def forward(self, inputs, labels=None):
        predictions = self.linear(inputs).squeeze(-1)
        loss = nn.functional.mse_loss(predictions, labels) if labels is not None else None
        return ToyRegressionOutput(loss=loss, predictions=predictions)


class ToyDataset(torch.utils.data.Dataset):
    """y = x . w + 0.5 + noise, fixed by its own generator (independent of --seed)."""

    def __init__(self, size: int, in_features: int = 4, seed: int = 0):
        gen = torch.Generator().manual_seed(seed)
        self.x = torch.randn(size, in_features, generator=gen)
        true_weights = torch.tensor([1.0, -2.0, 0.5, 3.0])[:in_features]
        self.y = self.x @ true_weights + 0.5 + 0.01 * torch.randn(size, generator=gen)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, index):
        return {"inputs": self.x[index], "labels": self.y[index]}


def parse_args(argv=None):
    parser = make_parser("Toy regression trained with hfvid.training.")
    parser.add_argument("--num_train_samples", type=int, default=32)
    parser.add_argument("--crash_after_step", type=int, default=None, help="Raise after this step (tests).")
    return validate_args(parser.parse_args(argv))


def main(args):
    accelerator = make_accelerator(args)
    model = ToyRegressionModel(ToyRegressionConfig())
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    train_loader, eval_loader = make_dataloaders(args, ToyDataset(args.num_train_samples, seed=0),
                                                 ToyDataset(10, seed=1))
    training = prepare_training(accelerator, args, model, optimizer, train_loader, eval_loader,
                                project_name="toy_regression")
    model, train_loader, eval_loader, loop = training.model, training.train_dataloader, training.eval_dataloader, \
        training.loop

    def evaluate():
        predictions, labels = evaluate_predictions(
            accelerator, model, eval_loader, lambda m, batch: (m(inputs=batch["inputs"]).predictions, batch["labels"])
        )
        return {"mse": float(((predictions - labels) ** 2).mean()), "count": int(len(labels))}

    micro_batches = []  # one entry per compute_loss call: shows how many steps this run really trained

    def compute_loss(model, batch):
        if args.crash_after_step is not None and loop.global_step >= args.crash_after_step:
            raise RuntimeError(f"simulated crash after step {loop.global_step}")
        micro_batches.append(loop.global_step)
        return model(**batch).loss

    history = loop.run(compute_loss, evaluate)
    final = history["eval"][-1][1]
    # The toy model has no template in model_cards/: use the one beside this file.
    template = str(Path(__file__).with_name("toy_model_card.md"))
    finish_training(accelerator, args, model, results=final, card_kwargs={"template_name": template})
    if accelerator.is_main_process:
        info = {
            "num_processes": accelerator.num_processes,
            "distributed_type": str(accelerator.distributed_type),
            "train_batches_per_process": len(train_loader),
            "micro_batches_run": len(micro_batches),
            "history": history,
        }
        (Path(args.output_dir) / "run_info.json").write_text(json.dumps(info, indent=2))
    return history


if __name__ == "__main__":
    main(parse_args())
