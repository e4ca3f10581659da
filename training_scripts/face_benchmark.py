#!/usr/bin/env python
r"""The FRL few-shot face benchmark: score an image backbone on face tasks at several data fractions and seeds.

    python training_scripts/face_benchmark.py --backbone out/frl --tasks landmarks,expression,au_intensity \
        --fractions 1.0,0.1,0.01 --seeds 0,1,2 --protocol linear --output_dir bench/frl
    python training_scripts/face_benchmark.py --backbone microsoft/resnet-50 --tasks recognition ...

`--backbone` is any `AutoModel` checkpoint (path or hub id) with a pooled output. Tasks: landmarks (NME),
alignment_3d (NME, bbox), au_intensity (ICC(3,1), subject-disjoint), expression (accuracy, CCC of V/A), recognition
(verification accuracy, TAR@FAR on unseen identities). Data: the built-in synthetic data by default, or real
datasets per task with `--dataset_format TASK=FORMAT,... --data_dir TASK=DIR,...` (a single value applies to every
task):

    python training_scripts/face_benchmark.py --backbone out/frl --tasks landmarks,expression \
        --dataset_format landmarks=cofw,expression=affectnet --data_dir landmarks=data/COFW,expression=data/AffectNet \
        --fractions 1.0,0.1 --seeds 0,1,2 --protocol finetune --output_dir bench/frl-real

Formats and the layout each expects under its directory:
{formats}

AU intensity is subject-independent: DISFA runs its 3 folds (`--folds` picks some), BP4D the FERA2015 train /
development split. Frame files are numbered from `--first_frame_index` (default 1, ffmpeg's `%05d.jpg`).

Head training (defaults follow the spec's reading of the paper's protocol, see
hfvid/models/face_pretraining/head_training.py): `--max_steps` per run whatever the fraction (or `--num_epochs`),
AdamW with a cosine schedule, augmentation on (`--no_augment` to turn it off). Runs on Accelerate's device; under
`accelerate launch` the heads train data-parallel and the predictions are gathered.

Writes `runs/<task>_f<fraction>_s<seed>.json`, `splits/*.json` (the exact training indices), `results.json` and
`results.md` (mean +- std over seeds and folds) under `--output_dir`.
"""

import argparse

from hfvid.data.face_benchmark import REAL_FORMATS, check_tasks, resolve_sources
from hfvid.models.face_pretraining.benchmark import TASKS, run_benchmark
from hfvid.models.face_pretraining.head_training import PROTOCOLS, HeadTrainingConfig
from hfvid.data.fraction_splits import SPLIT_MODES, check_fraction


def _floats(text):
    try:
        return [check_fraction(float(v)) for v in text.split(",") if v.strip()]
    except ValueError as error:
        raise ValueError(f"--fractions: {error}") from None


def _per_task(text, flag):
    """'a=x,b=y' -> {"a": "x", "b": "y"}; a plain value (no '=') applies to every task; None -> None."""
    if text is None or "=" not in text:
        return text
    mapping = {}
    for item in text.split(","):
        task, sep, value = item.partition("=")
        if not sep or not task.strip() or not value.strip():
            raise ValueError(f"{flag}: expected TASK=VALUE items separated by commas, got {item!r}")
        mapping[task.strip()] = value.strip()
    return mapping


def parse_args(argv=None):
    formats = "\n".join(f"  {task}: " + "; ".join(f"{fmt} ({layout})" for fmt, layout in layouts.items())
                        for task, layouts in REAL_FORMATS.items())
    parser = argparse.ArgumentParser(description=__doc__.format(formats=formats),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", required=True, help="Path or hub id of an AutoModel with a pooled output.")
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"Comma list of {', '.join(TASKS)}.")
    parser.add_argument("--fractions", default="1.0,0.1,0.01", help="Training-data fractions in (0, 1].")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--protocol", default="linear", choices=PROTOCOLS)
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--dataset_format", default="synthetic",
                        help="'synthetic' (default) or TASK=FORMAT,... (formats listed above).")
    parser.add_argument("--data_dir", default=None, help="DIR for every task or TASK=DIR,...")
    parser.add_argument("--split_mode", default="images", choices=SPLIT_MODES, help="Video tasks: frames or stride.")
    parser.add_argument("--folds", default=None, help="DISFA test folds to run, e.g. 0,2 (default: all 3).")
    parser.add_argument("--first_frame_index", type=int, default=None, choices=(0, 1),
                        help="Number of a video's first frame file in frames/<video_id>/ (default 1).")
    training = parser.add_argument_group("head training")
    defaults = HeadTrainingConfig()
    training.add_argument("--max_steps", type=int, default=defaults.max_steps, help="Optimizer steps per run.")
    training.add_argument("--num_epochs", type=float, default=None, help="Epochs over the subset (overrides "
                                                                          "--max_steps).")
    training.add_argument("--batch_size", type=int, default=defaults.batch_size)
    training.add_argument("--learning_rate", type=float, default=None,
                          help="AdamW head learning rate (default: 1e-2 for linear, 1e-3 for finetune).")
    training.add_argument("--backbone_learning_rate", type=float, default=None,
                          help="finetune: backbone learning rate (default: --learning_rate / 10).")
    training.add_argument("--weight_decay", type=float, default=defaults.weight_decay)
    training.add_argument("--lr_scheduler_type", default=defaults.lr_scheduler_type,
                          help="Any transformers scheduler name (cosine, linear, constant, ...).")
    training.add_argument("--warmup_ratio", type=float, default=defaults.warmup_ratio,
                          help="Fraction of the steps with a linear learning-rate warm-up.")
    training.add_argument("--no_augment", action="store_true", help="No box jitter, flip or colour jitter.")
    training.add_argument("--num_workers", type=int, default=defaults.num_workers, help="DataLoader workers.")
    parser.add_argument("--cpu", action="store_true", help="Run on the CPU even when an accelerator is present.")
    parser.add_argument("--image_size", type=int, default=None, help="Default: the backbone's processor/config.")
    parser.add_argument("--synthetic_train_size", type=int, default=256)
    parser.add_argument("--synthetic_test_size", type=int, default=64)
    args = parser.parse_args(argv)
    args.tasks = check_tasks([t.strip() for t in args.tasks.split(",") if t.strip()])
    args.fractions = _floats(args.fractions)
    args.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    args.dataset_format = _per_task(args.dataset_format, "--dataset_format")
    args.data_dir = _per_task(args.data_dir, "--data_dir")
    resolve_sources(args.tasks, args.dataset_format, args.data_dir)  # unknown formats / missing dirs fail here
    if args.folds is not None:
        try:
            args.folds = [int(k) for k in args.folds.split(",") if k.strip()]
        except ValueError:
            raise ValueError(f"--folds: expected comma-separated fold numbers 0-2, got {args.folds!r}") from None
    args.training = HeadTrainingConfig(
        max_steps=args.max_steps, num_epochs=args.num_epochs, batch_size=args.batch_size,
        learning_rate=args.learning_rate, backbone_learning_rate=args.backbone_learning_rate,
        weight_decay=args.weight_decay, lr_scheduler_type=args.lr_scheduler_type, warmup_ratio=args.warmup_ratio,
        augment=not args.no_augment, num_workers=args.num_workers)
    return args


def main(args):
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=args.cpu)
    result = run_benchmark(
        args.backbone, args.tasks, args.fractions, args.seeds, args.protocol, args.output_dir,
        dataset_format=args.dataset_format, data_dir=args.data_dir, training=args.training,
        image_size=args.image_size, train_size=args.synthetic_train_size, test_size=args.synthetic_test_size,
        split_mode=args.split_mode, folds=args.folds, first_frame_index=args.first_frame_index,
        accelerator=accelerator,
    )
    if accelerator.is_main_process:
        print(result["table"])
    return result


if __name__ == "__main__":
    main(parse_args())
