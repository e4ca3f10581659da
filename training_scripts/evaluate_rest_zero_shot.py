#!/usr/bin/env python
"""REST zero-shot action recognition on UCF101 / HMDB51 / Kinetics-600 (novel classes), per split and mean ± std.

    accelerate launch training_scripts/evaluate_rest_zero_shot.py --model_name_or_path out/rest \
        --dataset ucf101 --annotation_dir ucfTrainTestlist --video_root UCF-101 --output_dir out/eval_ucf101
    accelerate launch training_scripts/evaluate_rest_zero_shot.py --model_name_or_path out/rest \
        --dataset hmdb51 --annotation_dir testTrainMulti_7030_splits --video_root hmdb51 --output_dir out/eval_hmdb
    accelerate launch training_scripts/evaluate_rest_zero_shot.py --model_name_or_path out/rest \
        --dataset kinetics600 --annotations kinetics600/validate.csv --k400_classes kinetics400/train.csv \
        --video_root kinetics600/val --output_dir out/eval_k600

Protocols (spec section 4): UCF101 and HMDB51, all classes on each of the 3 official test splits; K600, the classes
not in K400, `--num_class_splits` seeded random subsets of `--classes_per_split` classes (3 x 160 [R]; our subsets
are seeded, not ER-ZSAR's files [D]; `--class_split_files` takes those files, one class per line). Class names become
prompts (`--hypothesis_template`, CamelCase and underscores split). Videos (`<video_root>/<listed path>`, or
`<video_root>/<file name>` for a flat folder) are decoded lazily by the `hfvid-zero-shot-video-classification`
pipeline and split over the processes. Results are deterministic for fixed `--seed` and `--batch_size` (nucleus
samples of Rule A are seeded per batch). Writes `zero_shot_results.json` and `zero_shot_results.md` (top-1/top-5 per
split, mean ± std with ddof = 0).
"""

import argparse
import json
from pathlib import Path

import numpy as np
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import gather_object

from hfvid.data.formats.hmdb51 import hmdb51_class_text, hmdb51_zero_shot_splits
from hfvid.data.formats.kinetics import (
    K600_CLASSES_PER_SPLIT,
    K600_NUM_SPLITS,
    kinetics600_zero_shot_splits,
    kinetics_class_text,
    read_kinetics_classes,
)
from hfvid.data.formats.ucf101 import ucf101_class_text, ucf101_zero_shot_splits
from hfvid.metrics.classification import top_k_accuracy

logger = get_logger(__name__, log_level="INFO")

DATASETS = ("ucf101", "hmdb51", "kinetics600")
CLASS_TEXT = {"ucf101": ucf101_class_text, "hmdb51": hmdb51_class_text, "kinetics600": kinetics_class_text}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_name_or_path", type=str, required=True, help="A saved REST zero-shot model.")
    parser.add_argument("--dataset", choices=DATASETS, required=True)
    parser.add_argument("--video_root", type=str, required=True, help="Folder holding the videos.")
    parser.add_argument("--annotation_dir", type=str, default=None,
                        help="UCF101: the folder with classInd.txt and testlist0N.txt; HMDB51: the split files.")
    parser.add_argument("--annotations", type=str, default=None, help="Kinetics-600 validate.csv.")
    parser.add_argument("--k400_classes", type=str, default=None,
                        help="K400 CSV or class list (K600 novel classes = K600 minus these).")
    parser.add_argument("--novel_classes", type=str, default=None,
                        help="K600: a class list (one per line) to use as the novel classes instead.")
    parser.add_argument("--class_split_files", type=str, nargs="+", default=None,
                        help="K600: explicit class subsets (one file per split, one class per line).")
    parser.add_argument("--splits", type=int, nargs="+", default=[1, 2, 3], help="UCF101/HMDB51 official splits.")
    parser.add_argument("--num_class_splits", type=int, default=K600_NUM_SPLITS)
    parser.add_argument("--classes_per_split", type=int, default=K600_CLASSES_PER_SPLIT)
    parser.add_argument("--scoring", choices=["text_similarity", "likelihood", "combined"], default=None,
                        help="Zero-shot rule (default: the model's).")
    parser.add_argument("--hypothesis_template", type=str, default=None, help="Default: the model's class_template.")
    parser.add_argument("--num_captions", type=int, default=None, help="Rule A captions per video.")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--max_videos_per_split", type=int, default=None, help="Evaluate the first N (smoke runs).")
    parser.add_argument("--skip_missing", action="store_true", help="Drop listed videos whose file is missing.")
    parser.add_argument("--output_dir", type=str, required=True)
    parser.add_argument("--seed", type=int, default=0, help="Class subsets and Rule A sampling.")
    parser.add_argument("--cpu", action="store_true")
    args = parser.parse_args(argv)
    if args.dataset in ("ucf101", "hmdb51") and args.annotation_dir is None:
        raise ValueError(f"--dataset {args.dataset} needs --annotation_dir (the official split lists)")
    if args.dataset == "kinetics600":
        if args.annotations is None:
            raise ValueError("--dataset kinetics600 needs --annotations (the K600 validate.csv)")
        if args.k400_classes is None and args.novel_classes is None:
            raise ValueError("--dataset kinetics600 needs --k400_classes or --novel_classes")
    if args.batch_size < 1 or (args.max_videos_per_split is not None and args.max_videos_per_split < 1):
        raise ValueError("--batch_size and --max_videos_per_split must be >= 1")
    return args


def _class_list(path) -> list[str]:
    names = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    if not names:
        raise ValueError(f"{path}: no class listed")
    return names


def load_protocol(args) -> list[dict]:
    """The evaluation splits: ``{"name", "class_names", "videos", "labels"}`` each (see the format readers)."""
    if args.dataset == "ucf101":
        return ucf101_zero_shot_splits(args.annotation_dir, args.splits)
    if args.dataset == "hmdb51":
        return hmdb51_zero_shot_splits(args.annotation_dir, args.splits)
    novel = read_kinetics_classes(args.novel_classes) if args.novel_classes else None
    class_splits = [_class_list(path) for path in args.class_split_files] if args.class_split_files else None
    return kinetics600_zero_shot_splits(args.annotations, args.k400_classes, args.num_class_splits,
                                        args.classes_per_split, args.seed, novel, class_splits)


def resolve_videos(split: dict, root, skip_missing: bool) -> tuple[list[str], list[int], int]:
    """Absolute paths (``root/<listed path>``, else ``root/<file name>``) and labels; missing files are an error
    unless ``skip_missing`` (then dropped and counted)."""
    root = Path(root)
    paths, labels, missing = [], [], []
    for video, label in zip(split["videos"], split["labels"]):
        candidates = (root / video, root / Path(video).name)
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            missing.append(str(root / video))
        else:
            paths.append(str(found))
            labels.append(label)
    if missing and not skip_missing:
        raise ValueError(f"{split['name']}: {len(missing)} listed videos are missing under {root} (e.g. "
                         f"{missing[:3]}); pass --skip_missing to evaluate the others")
    if not paths:
        raise ValueError(f"{split['name']}: none of the listed videos was found under {root}")
    return paths, labels, len(missing)


def summarize(per_split: list[dict]) -> dict:
    """Mean and population std (ddof = 0) of every metric over the splits."""
    keys = [k for k in ("top1", "top5") if all(k in s for s in per_split)]
    return {"mean": {k: float(np.mean([s[k] for s in per_split])) for k in keys},
            "std": {k: float(np.std([s[k] for s in per_split], ddof=0)) for k in keys}}


def markdown_table(results: dict) -> str:
    keys = list(results["mean"])
    header = "| split | classes | videos | " + " | ".join(f"{k[:3]}-{k[3:]} %" for k in keys) + " |"
    lines = [f"Zero-shot {results['dataset']} ({results['scoring']} rule, template {results['template']!r}, "
             f"model {results['model']})", "", header, "|---|---|---|" + "---|" * len(keys)]
    for split in results["splits"]:
        values = " | ".join(f"{split[k]:.1f}" for k in keys)
        lines.append(f"| {split['name']} | {split['num_classes']} | {split['num_videos']} | {values} |")
    means = " | ".join(f"{results['mean'][k]:.1f} ± {results['std'][k]:.1f}" for k in keys)
    lines.append(f"| mean ± std | | | {means} |")
    return "\n".join(lines) + "\n"


def main(args):
    import hfvid  # noqa: F401  (registers the pipelines)
    from transformers import pipeline

    accelerator = Accelerator(cpu=args.cpu)
    classifier = pipeline("hfvid-zero-shot-video-classification", model=args.model_name_or_path,
                          device=accelerator.device)
    scoring = args.scoring or classifier.model.config.scoring
    template = args.hypothesis_template or classifier.model.config.class_template
    to_text = CLASS_TEXT[args.dataset]
    per_split = []
    for split in load_protocol(args):
        paths, labels, missing = resolve_videos(split, args.video_root, args.skip_missing)
        if args.max_videos_per_split:
            paths, labels = paths[:args.max_videos_per_split], labels[:args.max_videos_per_split]
        prompts = [to_text(name) for name in split["class_names"]]
        column = {text: i for i, text in enumerate(prompts)}
        with accelerator.split_between_processes(list(range(len(paths)))) as mine:
            outputs = classifier([paths[i] for i in mine], candidate_labels=prompts, hypothesis_template=template,
                                 scoring=scoring, num_captions=args.num_captions, seed=args.seed,
                                 batch_size=args.batch_size, function_to_apply="none",
                                 return_caption=False) if mine else []
            rows = []
            for ranked in outputs:
                row = np.full(len(prompts), -np.inf)
                for item in ranked:
                    row[column[item["label"]]] = item["score"]
                rows.append(row)
        scores = np.stack(gather_object(rows))  # rank order == video order (contiguous chunks)
        metrics = {"top1": top_k_accuracy(scores, labels, 1)}
        if len(prompts) >= 5:
            metrics["top5"] = top_k_accuracy(scores, labels, 5)
        per_split.append({"name": split["name"], "num_classes": len(prompts), "num_videos": len(paths),
                          "num_missing": missing, **metrics})
        logger.info(f"{split['name']}: {metrics} over {len(paths)} videos, {len(prompts)} classes")
    results = {"dataset": args.dataset, "model": args.model_name_or_path, "scoring": scoring, "template": template,
               "seed": args.seed, "batch_size": args.batch_size, "splits": per_split, **summarize(per_split)}
    if args.dataset == "kinetics600":
        results["protocol"] = {"num_class_splits": len(per_split), "classes_per_split": per_split[0]["num_classes"],
                               "class_splits": "files" if args.class_split_files else f"random, seed {args.seed}"}
    if accelerator.is_main_process:
        output = Path(args.output_dir)
        output.mkdir(parents=True, exist_ok=True)
        (output / "zero_shot_results.json").write_text(json.dumps(results, indent=2) + "\n")
        (output / "zero_shot_results.md").write_text(markdown_table(results))
    accelerator.wait_for_everyone()
    return results


if __name__ == "__main__":
    main(parse_args())
