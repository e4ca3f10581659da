#!/usr/bin/env python
"""Evaluate a trained BPL adapter on target datasets: cross-dataset transfer, domain generalisation, base-to-new.

    # cross-dataset transfer and domain generalisation of an adapter trained on ImageNet (--preset
    # imagenet_cross_dataset): top-1 among each target's own class names, the mean over the targets
    python training_scripts/evaluate_bayesian_prompt_cross_dataset.py --adapter out/bpl-imagenet-xd-seed1 \
        --data_root $DATA --targets caltech101 oxford_pets stanford_cars oxford_flowers food101 fgvc_aircraft \
        sun397 dtd eurosat ucf101 imagenetv2 imagenet_sketch imagenet_a imagenet_r --output_dir eval/xd-seed1

    # base-to-new on a dataset's test split (base classes among base names, new among new names, and H)
    python training_scripts/evaluate_bayesian_prompt_cross_dataset.py --adapter out/bpl-eurosat-seed1 \
        --data_root $DATA --targets eurosat --protocol base2new --output_dir eval/eurosat-seed1

Targets are CoOp dataset names read from CoOp's layout under `--data_root` (hfvid.data.formats.coop.COOP_DATASETS and
the ImageNet variants imagenetv2 / imagenet_sketch / imagenet_a / imagenet_r, each with its copy of ImageNet's
classnames.txt; -A and -R are scored among their 200 classes, as CoOp does), or image folders `--image_folder
NAME=DIR` (`DIR/<class name>/<image>`). The adapter folder is what train_bayesian_prompt.py saves (a PEFT adapter
plus the CLIP processor); its base CLIP is the adapter's `base_model_name_or_path` unless `--model_name_or_path`
says otherwise. Writes `<output_dir>/cross_dataset_results.json` and `.md`. The averages follow the papers: the
mean over the cross-dataset targets (the 10 CoOp datasets other than ImageNet) and over the ImageNet variants.
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch

import hfvid  # noqa: F401  (registers the adapter with PEFT)
from hfvid.data.formats.coop import COOP_DATASETS, read_coop_dataset
from hfvid.data.formats.imagenet_variants import IMAGENET_VARIANTS
from hfvid.models.bayesian_prompt.evaluation import evaluate_accuracy, evaluate_base_to_new

CROSS_DATASET_TARGETS = [name for name in COOP_DATASETS if name != "imagenet"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", type=str, required=True, help="A folder saved by train_bayesian_prompt.py.")
    parser.add_argument("--model_name_or_path", type=str, default=None, help="Base CLIPModel (default: the adapter's).")
    parser.add_argument("--data_root", type=str, default=None, help="CoOp's data root ($DATA) for --targets.")
    parser.add_argument("--targets", type=str, nargs="*", default=[], help="CoOp dataset names under --data_root.")
    parser.add_argument("--image_folder", type=str, action="append", default=[],
                        help="NAME=DIR: an image-folder target (DIR/<class name>/<image>); repeatable.")
    parser.add_argument("--protocol", type=str, default="all", choices=["all", "base2new"],
                        help='"all": every class of the target test split; "base2new": base, new and H.')
    parser.add_argument("--num_samples", type=int, default=None, help="MC samples (default: the adapter's eval L).")
    parser.add_argument("--deterministic", action="store_true", help="Posterior-mean prompt, one pass.")
    parser.add_argument("--seed", type=int, default=None, help="Seed of the MC draws (default: the adapter's).")
    parser.add_argument("--batch_size", type=int, default=100)
    parser.add_argument("--max_eval_samples", type=int, default=None, help="Truncate every target (debugging).")
    parser.add_argument("--device", type=str, default=None, help="Default: cuda when available, else cpu.")
    parser.add_argument("--output_dir", type=str, required=True)
    args = parser.parse_args(argv)
    known = set(COOP_DATASETS) | set(IMAGENET_VARIANTS)
    unknown = [t for t in args.targets if t not in known]
    if unknown:
        raise ValueError(f"--targets {unknown} are not CoOp dataset names; expected some of {sorted(known)}")
    if args.targets and args.data_root is None:
        raise ValueError("--targets needs --data_root (CoOp's $DATA folder)")
    for item in args.image_folder:
        if "=" not in item or not Path(item.partition("=")[2]).is_dir():
            raise ValueError(f"--image_folder {item!r} must be NAME=DIR with an existing folder DIR")
    if not args.targets and not args.image_folder:
        raise ValueError("give at least one target: --targets (with --data_root) or --image_folder NAME=DIR")
    if not Path(args.adapter, "adapter_config.json").is_file():
        raise FileNotFoundError(f"--adapter {args.adapter}: no adapter_config.json (train_bayesian_prompt.py output)")
    return args


def load_adapter(args, device):
    """The PEFT-wrapped CLIPModel (eval mode, on ``device``) and the adapter folder's CLIPProcessor."""
    from peft import PeftModel
    from transformers import CLIPModel, CLIPProcessor

    base = args.model_name_or_path
    if base is None:
        base = json.loads(Path(args.adapter, "adapter_config.json").read_text())["base_model_name_or_path"]
    model = PeftModel.from_pretrained(CLIPModel.from_pretrained(base), args.adapter).to(device).eval()
    return model, CLIPProcessor.from_pretrained(args.adapter), base


def load_targets(args) -> dict:
    """``{name: test table}`` of every target, in the order given."""
    from hfvid.data.few_shot import load_image_folder

    tables = {name: read_coop_dataset(name, args.data_root)["test"] for name in args.targets}
    for item in args.image_folder:
        name, _, folder = item.partition("=")
        tables[name] = load_image_folder(folder)
    if args.max_eval_samples:
        tables = {k: v.shuffle(seed=0).select(range(min(args.max_eval_samples, len(v)))) for k, v in tables.items()}
    return tables


def averages(results: dict, key: str) -> dict:
    """The papers' means: over the cross-dataset targets and over the ImageNet variants (those present)."""
    out = {}
    for group, names in (("cross_dataset", CROSS_DATASET_TARGETS), ("domain_generalisation", list(IMAGENET_VARIANTS))):
        present = [results[n][key] for n in names if n in results]
        if present:
            out[f"{group}_average_{key}"] = float(np.mean(present))
            out[f"{group}_targets"] = len(present)
    return out


def markdown(report: dict) -> str:
    key = "top1" if report["protocol"] == "all" else "harmonic_mean"
    columns = ["top1", "num_images", "num_classes"] if key == "top1" else ["acc_base", "acc_new", "harmonic_mean"]
    lines = [f"# BPL adapter `{report['adapter']}` ({report['protocol']})", "",
             "| target | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for name, row in report["targets"].items():
        cells = [f"{row[c]:.2f}" if isinstance(row[c], float) else str(row[c]) for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for name, value in report["averages"].items():
        if "_average_" in name:
            lines.append(f"| **{name}** | {value:.2f} |" + " |" * (len(columns) - 1))
    return "\n".join(lines) + "\n"


def main(args):
    from hfvid.data.few_shot import class_names_of

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model, processor, base = load_adapter(args, device)
    kwargs = {"batch_size": args.batch_size, "num_samples": args.num_samples, "deterministic": args.deterministic}
    results = {}
    for name, table in load_targets(args).items():
        if args.seed is not None:
            kwargs["generator"] = torch.Generator(device).manual_seed(args.seed)
        if args.protocol == "base2new":
            results[name] = evaluate_base_to_new(model, processor, table, **kwargs)
        else:
            top1 = evaluate_accuracy(model, processor, table, **kwargs)["top1"]
            results[name] = {"top1": top1, "num_images": len(table), "num_classes": len(class_names_of(table))}
    report = {"adapter": str(args.adapter), "base_model": base, "protocol": args.protocol,
              "num_samples": args.num_samples, "deterministic": args.deterministic, "seed": args.seed,
              "targets": results,
              "averages": averages(results, "top1" if args.protocol == "all" else "harmonic_mean")}
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "cross_dataset_results.json").write_text(json.dumps(report, indent=2))
    (out / "cross_dataset_results.md").write_text(markdown(report))
    return report


if __name__ == "__main__":
    main(parse_args())
