#!/usr/bin/env python
"""Stage 1 of Contrastive AU: contrastive spatio-temporal pre-training on unlabelled face videos (Accelerate).

    accelerate launch training_scripts/pretrain_contrastive_au.py --dataset_name synthetic --output_dir out/cau_pre
    accelerate launch training_scripts/pretrain_contrastive_au.py --train_dir face_videos/ --output_dir out/cau_pre

`--train_dir` holds video files and/or one folder of face-crop frames per video (never the test subjects' videos:
transductive leakage). Each step draws random clips of `num_observed_steps + num_predicted_steps` frames,
`frame_stride` apart, with one augmentation draw per clip; the loss is InfoNCE (`--pretext predictive|instance`).
With several processes, `--global_negatives` scores each process's predictions against the targets gathered from all
processes (differentiable all-gather: negatives = the global batch); without it the negatives are per device. One
process: identical either way. Resumable with `--resume_from_checkpoint`. The saved `ContrastiveAUForPreTraining` checkpoint is the `--init` of
`train_contrastive_au.py`.

Video files are decoded clip by clip (seek + decode of the clip's frames only), never held whole in memory.
`--face_crop` crops every clip to the face: one square box per clip (`--face_margin` around it) from `--face_boxes`
(JSON `{video_id: box or per-frame boxes}`) or the `--face_detector` (MTCNN by default) run on the clip's middle
frame. `--backbone_init` starts the ResNet from ImageNet (`torchvision:resnet18`, `microsoft/resnet-18`) or face
pre-training weights; `--backbone_lr_scale` trains it at a fraction of `--learning_rate`:

    accelerate launch training_scripts/pretrain_contrastive_au.py --train_dir face_videos/ --face_crop \
        --backbone_init torchvision:resnet18 --backbone_lr_scale 0.1 --output_dir out/cau_pre
"""

import json
import math
from pathlib import Path

import numpy as np
import torch

from hfvid.models.affective_process import AffectiveProcessVideoProcessor
from hfvid.models.contrastive_au import ContrastiveAUConfig, ContrastiveAUForPreTraining
from hfvid.data.affect_sequences import ClipDataset, unlabelled_sequences
from hfvid.modules.backbone_init import backbone_parameter_groups
from hfvid.quickstart.contrastive_au import TINY_SYNTHETIC
from hfvid.training import (finish_training, make_accelerator, make_dataloaders, make_parser, prepare_training,
                            training_results, validate_args)


def parse_args(argv=None):
    parser = make_parser(__doc__)
    group = parser.add_argument_group("Contrastive AU pre-training")
    group.add_argument("--model_name_or_path", type=str, default=None, help="Continue from a checkpoint.")
    group.add_argument("--config_overrides", type=str, default=None, help="JSON object of ContrastiveAUConfig fields.")
    group.add_argument("--pretext", choices=["predictive", "instance"], default=None)
    group.add_argument("--global_negatives", action="store_true",
                       help="Multi-process: InfoNCE negatives from the targets of every process (sets "
                            "config.global_negatives).")
    group.add_argument("--clips_per_video", type=int, default=8, help="Clips per video and epoch.")
    group.add_argument("--no_augment", action="store_true", help="Disable the per-clip flip/brightness jitter.")
    group.add_argument("--backbone_init", type=str, default="random",
                       help="Start of the ResNet: random, torchvision:<resnet18|file>, or a ResNet / face "
                            "pre-training checkpoint (sets config.backbone_init; ignored with --model_name_or_path).")
    group.add_argument("--backbone_lr_scale", type=float, default=1.0,
                       help="Learning rate of the ResNet = --learning_rate x this (e.g. 0.1 for a pretrained one).")
    group.add_argument("--face_crop", action="store_true", help="Crop each clip to the face (one box per clip).")
    group.add_argument("--face_boxes", type=str, default=None,
                       help="JSON {video_id: [x1, y1, x2, y2] or per-frame boxes}: crop with these, no detection.")
    group.add_argument("--face_detector", type=str, default="mtcnn",
                       help="Detector for --face_crop without --face_boxes (mtcnn or an object-detection model).")
    group.add_argument("--face_margin", type=float, default=0.25, help="Context around the face box (fraction).")
    group.add_argument("--synthetic_videos", type=int, default=48)
    group.add_argument("--synthetic_length", type=int, default=64)
    group.add_argument("--synthetic_image_size", type=int, default=32)
    args = parser.parse_args(argv)
    if args.dataset_name is None and args.train_dir is None:
        raise ValueError("give --dataset_name synthetic or --train_dir with unlabelled videos / frame folders")
    if args.face_boxes and not args.face_crop:
        raise ValueError("--face_boxes is used by --face_crop: add --face_crop")
    return validate_args(args, dataset_names=("synthetic",))


def load_videos(args) -> list[dict]:
    if args.dataset_name == "synthetic":
        from hfvid.data.synthetic_affect import synthetic_affect_videos

        videos = synthetic_affect_videos(args.synthetic_videos, args.synthetic_length, "au",
                                         args.synthetic_image_size, offset_std=0.0, seed=args.seed + 1)
        sequences = [{"video_id": v["video_id"], "subject_id": v["video_id"], "frames": list(v["frames"]),
                      "labels": None} for v in videos]
    else:
        sequences = unlabelled_sequences(args.train_dir)
    sequences = sequences[: args.max_train_samples] if args.max_train_samples else sequences
    if args.face_crop:
        from hfvid.data.frame_sequences import face_cropped_sequences, load_face_boxes

        boxes = load_face_boxes(args.face_boxes) if args.face_boxes else None
        sequences = face_cropped_sequences(sequences, boxes, args.face_detector, args.face_margin)
    return sequences


def build_model(args):
    if args.model_name_or_path:
        extra = {"global_negatives": True} if args.global_negatives else {}
        return (ContrastiveAUForPreTraining.from_pretrained(args.model_name_or_path, **extra),
                AffectiveProcessVideoProcessor.from_pretrained(args.model_name_or_path))
    overrides = json.loads(args.config_overrides) if args.config_overrides else {}
    if args.dataset_name == "synthetic":
        from hfvid.data.synthetic_affect import AU_NAMES

        overrides = {**TINY_SYNTHETIC, "image_size": args.synthetic_image_size, "num_aus": len(AU_NAMES),
                     "au_names": list(AU_NAMES), **overrides}
    if args.pretext:
        overrides["pretext"] = args.pretext
    if args.global_negatives:
        overrides["global_negatives"] = True
    overrides["backbone_init"] = args.backbone_init
    config = ContrastiveAUConfig(**overrides)
    size = config.image_size
    return ContrastiveAUForPreTraining(config), AffectiveProcessVideoProcessor(size={"height": size, "width": size})


def main(args):
    accelerator = make_accelerator(args)
    model, processor = build_model(args)
    with accelerator.main_process_first():
        sequences = load_videos(args)
    config = model.config
    clip_length = config.clip_length if config.pretext == "predictive" else max(config.clip_length, 2)
    dataset = ClipDataset(sequences, processor, clip_length, config.frame_stride, args.clips_per_video, args.seed,
                          augment=not args.no_augment)
    loader, _ = make_dataloaders(args, dataset)
    groups = backbone_parameter_groups(model, args.learning_rate, args.backbone_lr_scale, args.weight_decay)
    optimizer = torch.optim.AdamW(groups, lr=args.learning_rate, weight_decay=args.weight_decay)
    training = prepare_training(accelerator, args, model, optimizer, loader, project_name="contrastive_au_pretraining",
                                processor=processor)
    model = training.model
    accuracies = []

    def compute_loss(m, batch):
        out = m(**batch)
        accuracies.append((out.accuracy.item(), out.logits.shape[-1]))  # candidates (global with gathering)
        return out.loss

    history = training.loop.run(compute_loss)
    recent = accuracies[-max(1, min(len(accuracies), 20)):]
    candidates = recent[-1][1] if recent else 1
    results = training_results(history, dataset=args.dataset_name or str(args.train_dir), pretext=config.pretext,
                               log_num_candidates=math.log(candidates),
                               top1_accuracy=float(np.mean([a for a, _ in recent])) if recent else float("nan"),
                               chance_accuracy=1.0 / candidates, num_videos=len(sequences))
    finish_training(accelerator, args, model, processor, results)
    return {"history": history, "results": results, "output_dir": Path(args.output_dir)}


if __name__ == "__main__":
    main(parse_args())
