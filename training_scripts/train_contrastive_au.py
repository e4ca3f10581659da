#!/usr/bin/env python
"""Stage 2 of Contrastive AU: AU-intensity regression from p% randomly chosen labelled frames (Accelerate).

    accelerate launch training_scripts/train_contrastive_au.py --dataset_name synthetic --init out/cau_pre \
        --label_ratio 0.02 --label_seed 0 --output_dir out/cau_2pct
    accelerate launch training_scripts/train_contrastive_au.py --dataset_format disfa --fold 0 \
        --annotations DISFA/ActionUnit_Labels --train_dir DISFA/crops --init out/cau_pre --output_dir out/disfa_f0

The labelled frames are drawn once (seeded, `--label_sampling per_video|pooled`) and saved as
`labels_r{ratio}_s{seed}.json` in `--output_dir`; a re-run (or `--resume_from_checkpoint`) reuses that file, so the
run is reproducible. Folds are subject-independent: DISFA's 3 folds (`--fold k` is the test fold, the other two
train) and BP4D's official FERA2015 train/development split. Each step trains on windows of `--window_size` frames
that hold a labelled frame at a random position; the loss sees only labelled frames (sparse BPTT). Evaluation:
whole held-out videos streamed through the GRU; ICC(3,1), PCC and MAE per AU and averaged, plus the all-zeros
baseline's MAE.

Pretrained starts: `--init` a stage-1 checkpoint, or `--init random --backbone_init torchvision:resnet18` (ImageNet;
also a Hub id such as `microsoft/resnet-18` or an hfvid face pre-training folder). `--backbone_lr_scale 0.1` trains
the pretrained ResNet at a tenth of `--learning_rate`.
"""

import json
from pathlib import Path

import numpy as np
import torch

from hfvid.metrics.affect import affect_metrics
from hfvid.models.affective_process import AffectiveProcessVideoProcessor
from hfvid.models.contrastive_au import ContrastiveAUConfig, ContrastiveAUForAUIntensity, LabelSplit
from hfvid.data.affect_sequences import SparseWindowDataset, labelled_sequences, video_pixels
from hfvid.models.contrastive_au.sparse_labels import check_label_ratio, select_labelled_frames
from hfvid.modules.backbone_init import backbone_parameter_groups
from hfvid.quickstart.contrastive_au import TINY_SYNTHETIC
from hfvid.training import (finish_training, make_accelerator, make_dataloaders, make_parser, prepare_training,
                            training_results, validate_args)


def parse_args(argv=None):
    parser = make_parser(__doc__)
    group = parser.add_argument_group("Contrastive AU stage 2")
    group.add_argument("--dataset_format", choices=["disfa", "bp4d"], default=None)
    group.add_argument("--fold", type=int, default=0, help="DISFA test fold (0-2); the other two folds train.")
    group.add_argument("--init", type=str, default="random",
                       help='"random" or a checkpoint (a stage-1 ContrastiveAUForPreTraining or a stage-2 model).')
    group.add_argument("--config_overrides", type=str, default=None, help="JSON object of ContrastiveAUConfig fields.")
    group.add_argument("--backbone_init", type=str, default="random",
                       help="With --init random: start of the ResNet: random, torchvision:<resnet18|file>, or a "
                            "ResNet / face pre-training checkpoint (config.backbone_init).")
    group.add_argument("--backbone_lr_scale", type=float, default=1.0,
                       help="Learning rate of the pretrained ResNet = --learning_rate x this (e.g. 0.1).")
    group.add_argument("--label_ratio", type=float, default=0.02, help="Fraction of labelled frames (0, 1].")
    group.add_argument("--label_seed", type=int, default=0)
    group.add_argument("--label_sampling", choices=["per_video", "pooled"], default="per_video")
    group.add_argument("--window_size", type=int, default=32, help="Frames per training window (BPTT length).")
    group.add_argument("--windows_per_video", type=int, default=8, help="Windows per labelled video and epoch.")
    group.add_argument("--augment", action="store_true", help="Per-window flip/brightness jitter.")
    group.add_argument("--synthetic_train_videos", type=int, default=6)
    group.add_argument("--synthetic_eval_videos", type=int, default=8)
    group.add_argument("--synthetic_length", type=int, default=128)
    group.add_argument("--synthetic_image_size", type=int, default=32)
    args = parser.parse_args(argv)
    check_label_ratio(args.label_ratio)
    if args.dataset_name is None and (args.dataset_format is None or args.annotations is None):
        raise ValueError("real data needs --dataset_format {disfa, bp4d} and --annotations")
    if not 0 <= args.fold <= 2:
        raise ValueError(f"--fold must be 0, 1 or 2, got {args.fold}")
    if args.backbone_init != "random" and args.init != "random":
        raise ValueError(f"--backbone_init {args.backbone_init!r} starts a fresh model: it needs --init random (got "
                         f"--init {args.init!r}, whose checkpoint already holds the backbone)")
    return validate_args(args, dataset_names=("synthetic",), real_data="--dataset_format")


def load_splits(args) -> tuple[list[dict], list[dict], dict]:
    """Train and test sequences of the subject-independent protocol, and a description of the folds."""
    if args.dataset_name == "synthetic":
        from hfvid.data.synthetic_affect import synthetic_affect_videos

        def load(count, seed):
            return [{"video_id": v["video_id"], "subject_id": v["video_id"], "frames": list(v["frames"]),
                     "labels": v["labels"]}
                    for v in synthetic_affect_videos(count, args.synthetic_length, "au", args.synthetic_image_size,
                                                     offset_std=0.0, seed=seed)]

        train, test = load(args.synthetic_train_videos, args.seed + 2), load(args.synthetic_eval_videos, args.seed + 3)
        folds = {"protocol": "synthetic: disjoint generated sequences"}
    else:
        from hfvid.data.au_folds import au_fold

        split = au_fold(args.dataset_format, args.fold if args.dataset_format == "disfa" else 0)
        train = labelled_sequences(args.dataset_format, args.annotations, args.train_dir, list(split.train_subjects))
        test = labelled_sequences(args.dataset_format, args.validation_annotations or args.annotations,
                                  args.validation_dir or args.train_dir, list(split.test_subjects))
        folds = {"protocol": split.protocol, "test_subjects": list(split.test_subjects)}
        split.check_disjoint({s["subject_id"] for s in train}, {s["subject_id"] for s in test})
    if args.max_train_samples:
        train = train[: args.max_train_samples]
    if args.max_eval_samples:
        test = test[: args.max_eval_samples]
    return train, test, folds


def build_model(args):
    """`--init random` builds a fresh model; a checkpoint loads f and g (a stage-1 one leaves only the regressor new)."""
    overrides = json.loads(args.config_overrides) if args.config_overrides else {}
    if args.dataset_name == "synthetic":
        from hfvid.data.synthetic_affect import AU_NAMES

        overrides = {"num_aus": len(AU_NAMES), "au_names": list(AU_NAMES), **overrides}
    elif args.dataset_format == "bp4d":
        from hfvid.data.formats.bp4d import FERA2015_AU_NAMES

        overrides = {"num_aus": 5, "au_names": list(FERA2015_AU_NAMES), **overrides}
    overrides.update(label_ratio=args.label_ratio, label_seed=args.label_seed, label_sampling=args.label_sampling)
    if args.init == "random":
        if args.dataset_name == "synthetic":
            overrides = {**TINY_SYNTHETIC, "image_size": args.synthetic_image_size, **overrides}
        overrides["backbone_init"] = args.backbone_init
        config = ContrastiveAUConfig(**overrides)
        size = config.image_size
        return ContrastiveAUForAUIntensity(config), AffectiveProcessVideoProcessor(size={"height": size, "width": size})
    model = ContrastiveAUForAUIntensity.from_pretrained(args.init, **overrides)
    return model, AffectiveProcessVideoProcessor.from_pretrained(args.init)


def label_split(args, train) -> LabelSplit:
    """The run's labelled frames: reused from `--output_dir` when present (resume), else drawn and saved."""
    path = Path(args.output_dir) / LabelSplit.file_name(args.label_ratio, args.label_seed)
    if path.is_file():
        split = LabelSplit.load(path)
        if (split.ratio, split.seed, split.sampling) != (args.label_ratio, args.label_seed, args.label_sampling):
            raise ValueError(f"{path} was drawn with other settings ({split.ratio}, {split.seed}, {split.sampling})")
        return split
    split = select_labelled_frames({s["video_id"]: s["labels"] for s in train}, args.label_ratio, args.label_seed,
                                   args.label_sampling)
    path.parent.mkdir(parents=True, exist_ok=True)
    split.save(path)
    return split


@torch.no_grad()
def evaluate_sequences(model, processor, sequences) -> dict:
    """Whole videos through the GRU (chunks, carried state); metrics over all test frames concatenated."""
    predictions, references = [], []
    for seq in sequences:
        predictions.append(model.predict_sequence(video_pixels(processor, seq["frames"])))
        references.append(seq["labels"])
    predictions, references = np.concatenate(predictions), np.concatenate(references)
    names = model.config.au_names
    metrics = affect_metrics(predictions, references, names=names, metrics=("icc", "pcc", "mae"))
    zeros = affect_metrics(np.zeros_like(references), references, names=names, metrics=("mae",))
    metrics["zeros_baseline_mae_mean"] = zeros["mae_mean"]
    return metrics


def main(args):
    accelerator = make_accelerator(args)
    model, processor = build_model(args)
    with accelerator.main_process_first():
        train, test, folds = load_splits(args)
        split = label_split(args, train)
    dataset = SparseWindowDataset(train, processor, split, args.window_size, args.windows_per_video, args.seed,
                                  augment=args.augment)
    loader, _ = make_dataloaders(args, dataset)
    model.apply_freezing()
    groups = backbone_parameter_groups(model, args.learning_rate, args.backbone_lr_scale, args.weight_decay)
    optimizer = torch.optim.AdamW(groups, lr=args.learning_rate, weight_decay=args.weight_decay)
    training = prepare_training(accelerator, args, model, optimizer, loader, project_name="contrastive_au",
                                processor=processor)
    model = training.model

    def evaluate():
        return evaluate_sequences(accelerator.unwrap_model(model), processor, test) if test else None

    history = training.loop.run(lambda m, batch: m(**batch).loss, evaluate=evaluate)
    results = training_results(history, dataset=args.dataset_name or args.dataset_format, init=args.init,
                               label_ratio=args.label_ratio, label_seed=args.label_seed,
                               label_sampling=args.label_sampling, num_labelled_frames=split.num_labelled,
                               folds=folds["protocol"])
    accelerator.unwrap_model(model).requires_grad_(True)
    finish_training(accelerator, args, model, processor, results)
    return {"history": history, "results": results, "split": split}


if __name__ == "__main__":
    main(parse_args())
