#!/usr/bin/env python
"""Train Bayesian Prompt Learning (BPL) on a frozen CLIP with Accelerate: few-shot, base classes, then base/new eval.

    accelerate launch training_scripts/train_bayesian_prompt.py --dataset_name synthetic --output_dir out/bpl
    accelerate launch training_scripts/train_bayesian_prompt.py --model_name_or_path openai/clip-vit-base-patch16 \
        --train_dir eurosat/train --validation_dir eurosat/test --num_shots 16 --num_samples_train 20 \
        --num_train_epochs 60 --output_dir out/bpl-eurosat

    accelerate launch training_scripts/train_bayesian_prompt.py --model_name_or_path openai/clip-vit-base-patch16 \
        --coop_split split_zhou_EuroSAT.json --train_dir eurosat/2750 --seed 1 --output_dir out/bpl-eurosat-seed1

    # the released recipe of one dataset (L, epochs, SGD 0.002, batch 1, 1 warm-up epoch at 1e-5 then cosine,
    # random resized crop + flip, 16 shots) on CoOp's folder layout under $DATA; explicit flags override the preset
    accelerate launch training_scripts/train_bayesian_prompt.py --model_name_or_path openai/clip-vit-base-patch16 \
        --preset eurosat --data_root $DATA --seed 1 --output_dir out/bpl-eurosat-seed1

Data: a preset's dataset in CoOp's folder layout (`--preset <dataset> --data_root $DATA`, e.g. `$DATA/eurosat/2750`
+ `split_zhou_EuroSAT.json`; `--coop_dataset <name>` without a preset), `--dataset_name synthetic` (coloured shapes and
a tiny random CLIP built and saved to `<output_dir>/base_model`, fully offline), a CoOp split file
(`--coop_split split_zhou_<Dataset>.json` with the image folder as `--train_dir`, or `--coop_split
fgvc_aircraft|imagenet` with the dataset root as `--train_dir`; train on "train", evaluate on "test"), image folders
`<dir>/<class name>/<image>` (`--train_dir`, `--validation_dir`), or a `datasets` table (`--dataset_name <hub id or
local dir>` with `--image_column`, `--label_column`). Protocol (CoOp/CoCoOp): sample `--num_shots` images per class
with `--seed`, train on the base half of the classes (`--subsample_classes base`), evaluate on base-class and
new-class test images with their own class names, and report H. The k-shot subset is drawn as Dassl does (Python's
`random` seeded with `--seed`, class by class in order of first appearance, before the base/new split), so a CoOp
split file and seed give CoOp's subset. The hand-written-prompt zero-shot accuracy of the same CLIP is measured
first. The output folder is a PEFT adapter (adapter_config.json + adapter_model.safetensors) plus the processor,
`all_results.json` and a model card.
"""

import argparse
import math
from pathlib import Path

import torch
from accelerate.logging import get_logger
from peft import get_peft_model

import hfvid  # noqa: F401  (registers the adapter with PEFT)
from hfvid.data.formats.coop import COOP_DATASETS, read_coop_dataset
from hfvid.data.few_shot import (
    AugmentedImageCollator,
    class_names_of,
    clip_train_transform,
    classification_table,
    few_shot_subset,
    load_image_folder,
    subsample_classes,
)
from hfvid.metrics.classification import harmonic_mean, top_k_accuracy
from hfvid.models.bayesian_prompt import BayesianPromptConfig, build_class_prompts, resolve_ctx_init
from hfvid.models.bayesian_prompt.evaluation import BayesianPromptCollator
from hfvid.models.bayesian_prompt.presets import PRESETS, dassl_lr_scheduler, preset_values
from hfvid.training import (evaluate_predictions, finish_training, make_accelerator, make_dataloaders, make_parser,
                            prepare_training, training_results, validate_args)

logger = get_logger(__name__, log_level="INFO")


def parse_args(argv=None):
    parser = make_parser(__doc__)
    # Released recipe (Dassl defaults): SGD lr 0.002, momentum 0.9, weight decay 5e-4, cosine, batch 1.
    parser.set_defaults(learning_rate=2e-3, weight_decay=5e-4, per_device_train_batch_size=1, max_grad_norm=0.0)
    group = parser.add_argument_group("Bayesian prompt learning")
    group.add_argument("--model_name_or_path", type=str, default=None,
                       help="Base CLIPModel (hub id or folder); synthetic data builds a tiny random CLIP instead.")
    group.add_argument("--preset", type=str, default=None, choices=sorted(PRESETS),
                       help="The released recipe of a dataset (hfvid.models.bayesian_prompt.presets); flags win.")
    group.add_argument("--data_root", type=str, default=None, help="CoOp's data root ($DATA) for --coop_dataset.")
    group.add_argument("--coop_dataset", type=str, default=None,
                       help="A CoOp dataset name read from its layout under --data_root (a --preset sets it).")
    group.add_argument("--coop_split", type=str, default=None,
                       help="CoOp benchmark split: a split_zhou_*.json, or fgvc_aircraft / imagenet (root: --train_dir).")
    group.add_argument("--image_column", type=str, default="image")
    group.add_argument("--label_column", type=str, default="label")
    group.add_argument("--train_split", type=str, default="train")
    group.add_argument("--eval_split", type=str, default="test")
    group.add_argument("--num_shots", type=int, default=16, help="Training images per class (seeded).")
    group.add_argument("--subsample_classes", type=str, default="base", choices=["base", "all"],
                       help="Train on the base half of the classes (base-to-new) or on all of them.")
    group.add_argument("--n_ctx", type=int, default=4)
    group.add_argument("--ctx_init", type=str, default="a photo of a", help='"" for a random context.')
    group.add_argument("--variant", type=str, default="unconditional", choices=["unconditional", "conditional"])
    group.add_argument("--num_samples_train", type=int, default=10)
    group.add_argument("--num_samples_eval", type=int, default=10)
    group.add_argument("--kl_weight", type=float, default=1e-3)
    group.add_argument("--logvar_init", type=str, default="uniform",
                       help='"uniform" (U[0,1), released) or a number, e.g. -6 for a small initial spread.')
    group.add_argument("--likelihood", type=str, default="logmeanexp", choices=["logmeanexp", "elbo"])
    group.add_argument("--kl_reduction", type=str, default="mean", choices=["mean", "sum"])
    group.add_argument("--optimizer", type=str, default="sgd", choices=["sgd", "adamw"])
    group.add_argument("--lr_schedule", type=str, default="hf", choices=["hf", "dassl"],
                       help='"dassl": --warmup_epochs at --warmup_lr, then cosine per epoch (the released recipe); '
                            '"hf": --lr_scheduler_type with --num_warmup_steps.')
    group.add_argument("--warmup_epochs", type=int, default=1, help="Constant warm-up epochs of --lr_schedule dassl.")
    group.add_argument("--warmup_lr", type=float, default=1e-5, help="The warm-up lr of --lr_schedule dassl.")
    group.add_argument("--augmentation", type=str, default="none", choices=["none", "coop"],
                       help='"coop": random resized crop (scale 0.08-1) + horizontal flip (the released recipe).')
    group.add_argument("--eval_deterministic", action="store_true", help="Evaluate with the posterior mean only.")
    group.add_argument("--synthetic_num_classes", type=int, default=8)
    group.add_argument("--synthetic_train_per_class", type=int, default=16)
    group.add_argument("--synthetic_test_per_class", type=int, default=16)
    group.add_argument("--synthetic_image_size", type=int, default=32)
    preset = argparse.ArgumentParser(add_help=False)
    preset.add_argument("--preset", type=str, default=None, choices=sorted(PRESETS))
    chosen = preset.parse_known_args(argv)[0].preset
    if chosen is not None:  # a preset replaces the defaults, so every flag given explicitly still wins
        parser.set_defaults(**preset_values(chosen))
    args = parser.parse_args(argv)
    if args.num_shots < 1:
        raise ValueError(f"--num_shots must be >= 1, got {args.num_shots}")
    if args.coop_dataset is not None and args.coop_dataset not in COOP_DATASETS:
        raise ValueError(f"--coop_dataset {args.coop_dataset!r} is not one of {sorted(COOP_DATASETS)}")
    if args.coop_dataset and args.data_root and not (args.dataset_name or args.coop_split or args.train_dir):
        args.train_dir = str(Path(args.data_root, COOP_DATASETS[args.coop_dataset][0]))  # the dataset's CoOp folder
    if args.dataset_name != "synthetic" and args.model_name_or_path is None:
        raise ValueError("--model_name_or_path (a CLIPModel) is required unless --dataset_name synthetic")
    return validate_args(args)


def load_tables(args):
    """(train, test) tables with `image` and a ClassLabel `label` column, from the chosen source."""
    if args.dataset_name == "synthetic":
        from hfvid.data.synthetic_images import shape_class_names, synthetic_shape_images

        names = shape_class_names(args.synthetic_num_classes)
        size = args.synthetic_image_size
        return (synthetic_shape_images(names, args.synthetic_train_per_class, size, seed=args.seed),
                synthetic_shape_images(names, args.synthetic_test_per_class, size, seed=args.seed + 1))
    if args.coop_dataset is not None and args.data_root is not None and args.coop_split is None:
        tables = read_coop_dataset(args.coop_dataset, args.data_root)
        return tables["train"], tables["test"]
    if args.coop_split is not None:
        from hfvid.data.formats import coop

        if args.train_dir is None:
            raise ValueError("--coop_split needs --train_dir (the image folder / dataset root)")
        readers = {"fgvc_aircraft": coop.read_fgvc_aircraft, "imagenet": coop.read_imagenet}
        if args.coop_split in readers:
            tables = readers[args.coop_split](args.train_dir)
        else:
            tables = coop.read_coop_split(args.coop_split, args.train_dir)
        return tables["train"], tables["test"]
    if args.train_dir is not None:
        if args.validation_dir is None:
            raise ValueError("--train_dir needs --validation_dir (the test images, same class folders)")
        train, test = load_image_folder(args.train_dir), load_image_folder(args.validation_dir)
        if class_names_of(train) != class_names_of(test):
            raise ValueError("--train_dir and --validation_dir must hold the same class folders")
        return train, test
    from datasets import load_dataset

    tables = load_dataset(args.dataset_name)
    return tuple(classification_table(tables[split], args.image_column, args.label_column)
                 for split in (args.train_split, args.eval_split))


def build_base(args, accelerator):
    """The frozen CLIPModel, its CLIPProcessor, and the path recorded as the adapter's base model."""
    from transformers import CLIPModel, CLIPProcessor

    if args.model_name_or_path is not None:
        path = args.model_name_or_path
        return CLIPModel.from_pretrained(path), CLIPProcessor.from_pretrained(path), path
    from hfvid.data.synthetic_images import tiny_clip

    clip, processor = tiny_clip(image_size=args.synthetic_image_size, seed=args.seed)
    path = str(Path(args.output_dir, "base_model").resolve())
    clip.name_or_path = path  # what get_peft_model records as the adapter's base model
    if accelerator.is_main_process:
        clip.save_pretrained(path)
        processor.save_pretrained(path)
    accelerator.wait_for_everyone()
    return clip, processor, path


class PromptLearner(torch.nn.Module):
    """What Accelerate prepares: a PEFT model plus the fixed training prompts; ``forward`` goes through DDP."""

    def __init__(self, peft_model, prompts):
        super().__init__()
        self.peft_model = peft_model
        self.register_buffer("class_input_ids", prompts["input_ids"], persistent=False)
        self.register_buffer("class_attention_mask", prompts["attention_mask"], persistent=False)

    def forward(self, pixel_values, labels=None, class_input_ids=None, class_attention_mask=None, **kwargs):
        ids = self.class_input_ids if class_input_ids is None else class_input_ids
        mask = self.class_attention_mask if class_attention_mask is None else class_attention_mask
        return self.peft_model.classify(pixel_values, ids, mask, labels=labels, **kwargs)


def main(args):
    accelerator = make_accelerator(args)
    clip, processor, base_path = build_base(args, accelerator)
    with accelerator.main_process_first():
        train_table, test_table = load_tables(args)
        # CoOp order: k shots of every class first, then the base/new subsample
        train_set = subsample_classes(few_shot_subset(train_table, args.num_shots, args.seed), args.subsample_classes)
        test_sets = {"base": subsample_classes(test_table, "base"), "new": subsample_classes(test_table, "new")}
        if args.subsample_classes == "all":
            test_sets = {"all": test_table, **test_sets}
        if args.max_eval_samples:
            test_sets = {k: v.select(range(min(args.max_eval_samples, len(v)))) for k, v in test_sets.items()}

    config = BayesianPromptConfig(
        n_ctx=args.n_ctx, ctx_init=args.ctx_init or None, variant=args.variant,
        num_samples_train=args.num_samples_train, num_samples_eval=args.num_samples_eval, kl_weight=args.kl_weight,
        likelihood=args.likelihood, kl_reduction=args.kl_reduction, base_model_name_or_path=base_path,
        logvar_init=args.logvar_init if args.logvar_init == "uniform" else float(args.logvar_init),
    )
    resolve_ctx_init(config, processor.tokenizer)
    peft_model = get_peft_model(clip, config)
    peft_model.peft_config["default"].base_model_name_or_path = base_path
    prompts = {name: build_class_prompts(processor.tokenizer, class_names_of(table), config)
               for name, table in {"train": train_set, **test_sets}.items()}
    learner = PromptLearner(peft_model, prompts["train"])

    collate = BayesianPromptCollator(processor.image_processor)  # eval: resize + centre crop
    train_collate = collate if args.augmentation == "none" else AugmentedImageCollator(
        clip_train_transform(processor.image_processor))
    train_loader, _ = make_dataloaders(args, train_set, collate_fn=train_collate)
    eval_loaders = {name: torch.utils.data.DataLoader(table, batch_size=args.per_device_eval_batch_size,
                                                      collate_fn=collate) for name, table in test_sets.items()}
    trainable = [p for p in learner.parameters() if p.requires_grad]
    if args.optimizer == "sgd":
        optimizer = torch.optim.SGD(trainable, lr=args.learning_rate, momentum=0.9, weight_decay=args.weight_decay)
    else:
        optimizer = torch.optim.AdamW(trainable, lr=args.learning_rate, weight_decay=args.weight_decay)
    make_scheduler = None
    if args.lr_schedule == "dassl":
        # optimizer steps per epoch of the prepared (sharded) loader: accelerate gives each process ceil(n / p) batches
        batches = math.ceil(len(train_loader) / accelerator.num_processes)
        steps_per_epoch = math.ceil(batches / args.gradient_accumulation_steps)

        def make_scheduler(prepared_optimizer, num_training_steps):
            return dassl_lr_scheduler(prepared_optimizer, steps_per_epoch, args.num_train_epochs, args.warmup_epochs,
                                      args.warmup_lr, accelerator.num_processes)

    training = prepare_training(accelerator, args, learner, optimizer, train_loader, eval_loaders,
                                project_name="bayesian_prompt", make_scheduler=make_scheduler)
    learner, eval_loaders = training.model, training.eval_dataloader

    def evaluate(deterministic: bool = args.eval_deterministic) -> dict:
        metrics = {}
        for name, loader in eval_loaders.items():
            ids, mask = prompts[name]["input_ids"], prompts[name]["attention_mask"]
            scores, labels = evaluate_predictions(accelerator, learner, loader, lambda m, batch: (
                m(batch["pixel_values"], class_input_ids=ids.to(batch["pixel_values"].device),
                  class_attention_mask=mask.to(batch["pixel_values"].device), deterministic=deterministic).logits,
                batch["labels"]))
            metrics[f"acc_{name}"] = top_k_accuracy(scores, labels, 1)
        metrics["harmonic_mean"] = harmonic_mean(metrics["acc_base"], metrics["acc_new"])
        return metrics

    with peft_model.disable_adapter():  # the hand-written prompt ("a photo of a <class>.") on the same CLIP
        zero_shot = {f"zero_shot_{k}": v for k, v in evaluate(deterministic=True).items()}
    logger.info(f"zero-shot CLIP with the hand-written prompt: {zero_shot}")
    history = training.loop.run(lambda model, batch: model(**batch).loss, evaluate=evaluate)
    dataset = args.dataset_name or args.coop_dataset or args.coop_split or args.train_dir
    results = training_results(history, **zero_shot, num_train_images=len(train_set), dataset=dataset,
                               preset=args.preset)
    card = {"template_name": "bayesian_prompt",
            "extra": {"bpl": peft_model.peft_config["default"].to_dict(), "base_model_path": base_path,
                      "base_classes": class_names_of(test_sets["base"]), "new_classes": class_names_of(test_sets["new"])}}
    if args.model_name_or_path:
        card["base_model"] = args.model_name_or_path
    finish_training(accelerator, args, peft_model, processor, results, card_kwargs=card)
    return {"history": history, "results": results}


if __name__ == "__main__":
    main(parse_args())
