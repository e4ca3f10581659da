#!/usr/bin/env python
"""Train Subpixel Heatmap Regression (SH-FAN) with Accelerate.

    accelerate launch training_scripts/train_subpixel_fan.py --dataset_name synthetic --output_dir out/fan
    accelerate launch training_scripts/train_subpixel_fan.py --train_dir 300W/train --validation_dir 300W/test ...
    accelerate launch training_scripts/train_subpixel_fan.py --train_dir WFLW/images \
        --annotations list_98pt_rect_attr_train.txt --validation_annotations list_98pt_rect_attr_test.txt \
        --config_overrides landmark_scheme=wflw98,num_landmarks=98 ...

Data: `--dataset_name synthetic` (built-in faces with exact landmarks, offline), a folder of images with iBUG
`.pts` files (300W layout), or a WFLW annotation file whose image paths are relative to `--train_dir`.
Each step sees two views of every face (random similarity + mirror, then a second similarity) and optimises the
supervised heatmap loss plus `consistency_weight` times the Siamese consistency loss.
"""

import numpy as np
import torch
from accelerate.logging import get_logger

from hfvid.data.landmarks import LandmarkTrainingViews
from hfvid.metrics.landmarks import landmark_metrics
from hfvid.models.subpixel_fan import (
    SubpixelFANImageProcessor,
    SubpixelFANConfig,
    SubpixelFANForFacialLandmarkDetection,
)
from hfvid.training import (
    evaluate_predictions,
    finish_training,
    make_accelerator,
    make_dataloaders,
    make_parser,
    parse_config_overrides,
    prepare_training,
    training_results,
    validate_args,
)

logger = get_logger(__name__, log_level="INFO")


def parse_args(argv=None):
    parser = make_parser(__doc__)
    group = parser.add_argument_group("SH-FAN")
    group.add_argument("--model_name_or_path", type=str, default=None, help="Start from an hfvid SH-FAN checkpoint.")
    group.add_argument(
        "--config_overrides", type=str, default=None,
        help='Config fields for a new model, e.g. "num_stacks=1,hidden_size=64,image_size=64,heatmap_size=16".',
    )
    group.add_argument("--consistency_weight", type=float, default=None, help="Override lambda of the Siamese term.")
    group.add_argument("--no_siamese", action="store_true", help="Train with the supervised loss only (ablation).")
    group.add_argument("--rotation", type=float, default=30.0, help="Max rotation of the first view (degrees).")
    group.add_argument("--scale_range", type=float, nargs=2, default=(0.75, 1.25))
    group.add_argument("--flip_prob", type=float, default=0.5)
    group.add_argument("--second_view_rotation", type=float, default=15.0)
    group.add_argument("--second_view_scale", type=float, nargs=2, default=(0.9, 1.1))
    group.add_argument("--reference_scale", type=float, default=195.0, help="Crop rule: 195 (S3FD), 165 (tight).")
    group.add_argument("--nme_normalization", type=str, default=None,
                       choices=["inter_ocular", "inter_pupil", "box", "diag"],
                       help="Default: inter_ocular when the scheme has eye corners, else box.")
    group.add_argument("--synthetic_train_samples", type=int, default=512)
    group.add_argument("--synthetic_eval_samples", type=int, default=64)
    group.add_argument("--synthetic_image_size", type=int, default=128)
    group.add_argument("--landmark_indices", type=int, nargs="+", default=None,
                       help="Synthetic data: train on this subset of the 68 points.")
    args = parser.parse_args(argv)
    return validate_args(args)


def load_records(args, split: str):
    """Records `{"image", "landmarks", "box"}` of the train or eval split from the chosen source."""
    train = split == "train"
    limit = args.max_train_samples if train else args.max_eval_samples
    if args.dataset_name == "synthetic":
        from hfvid.data.synthetic import synthetic_faces

        count = args.synthetic_train_samples if train else args.synthetic_eval_samples
        records = synthetic_faces(count, args.synthetic_image_size, seed=args.seed + (0 if train else 1),
                                  landmark_indices=args.landmark_indices)
        return records[:limit] if limit else records
    if args.dataset_name is not None:
        raise ValueError(f"--dataset_name must be 'synthetic' (or give --train_dir), got {args.dataset_name!r}")
    annotations = args.annotations if train else args.validation_annotations
    folder = args.train_dir if train or annotations else args.validation_dir
    if folder is None:
        return None
    if annotations:
        from hfvid.data.formats import read_wflw_annotations

        dataset = read_wflw_annotations(annotations, folder)
    else:
        from hfvid.data.formats import load_pts_folder

        dataset = load_pts_folder(folder)
    return dataset.select(range(min(limit, len(dataset)))) if limit else dataset


def build_model(args):
    if args.model_name_or_path:
        model = SubpixelFANForFacialLandmarkDetection.from_pretrained(args.model_name_or_path)
        processor = SubpixelFANImageProcessor.from_pretrained(args.model_name_or_path)
    else:
        overrides = parse_config_overrides(args.config_overrides)
        if args.landmark_indices and "num_landmarks" not in overrides:
            overrides.update(num_landmarks=len(args.landmark_indices), landmark_scheme="custom")
        config = SubpixelFANConfig(**overrides)
        model = SubpixelFANForFacialLandmarkDetection(config)
        processor = SubpixelFANImageProcessor(crop_size=config.image_size, reference_scale=args.reference_scale)
    if args.consistency_weight is not None:
        model.config.consistency_weight = args.consistency_weight
    return model, processor


def main(args):
    accelerator = make_accelerator(args)
    model, processor = build_model(args)
    config = model.config
    if args.landmark_indices and config.flip_permutation is not None:
        raise ValueError("--landmark_indices selects a custom subset: the model needs landmark_scheme='custom'")

    with accelerator.main_process_first():
        train_records = load_records(args, "train")
        eval_records = load_records(args, "eval")
    views = dict(processor=processor, flip_permutation=config.flip_permutation, seed=args.seed)
    train_set = LandmarkTrainingViews(
        train_records, augment=True, second_view=not args.no_siamese, rotation=args.rotation,
        scale_range=tuple(args.scale_range), flip_prob=args.flip_prob,
        second_view_rotation=args.second_view_rotation, second_view_scale=tuple(args.second_view_scale), **views,
    )
    eval_set = None if eval_records is None else LandmarkTrainingViews(eval_records, augment=False, **views)
    train_loader, eval_loader = make_dataloaders(args, train_set, eval_set)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    training = prepare_training(accelerator, args, model, optimizer, train_loader, eval_loader,
                                project_name="subpixel_fan", processor=processor)
    model, eval_loader = training.model, training.eval_dataloader

    normalization = args.nme_normalization or ("inter_ocular" if config.eye_indices else "box")

    def evaluate():
        if eval_loader is None:
            return None
        predictions, references = evaluate_predictions(
            accelerator, model, eval_loader, lambda m, batch: (m(pixel_values=batch["pixel_values"]).landmarks,
                                                               batch["labels"])
        )
        metrics = landmark_metrics(predictions, references, normalization=normalization,
                                   eye_indices=config.eye_indices if normalization == "inter_ocular" else None)
        metrics.pop("per_image_nme")
        metrics["mean_error_px"] = float(np.linalg.norm(predictions - references, axis=-1).mean())
        return metrics

    history = training.loop.run(lambda m, batch: m(**batch).loss, evaluate=evaluate)
    results = training_results(history, dataset=args.dataset_name or args.annotations or args.train_dir)
    finish_training(accelerator, args, model, processor, results)
    return {"history": history, "results": results}


if __name__ == "__main__":
    main(parse_args())
