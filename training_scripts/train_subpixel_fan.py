#!/usr/bin/env python
"""Train Subpixel Heatmap Regression (SH-FAN) with Accelerate.

    accelerate launch training_scripts/train_subpixel_fan.py --dataset_name synthetic --output_dir out/fan
    accelerate launch training_scripts/train_subpixel_fan.py --train_dir 300W/train --validation_dir 300W/test ...
    accelerate launch training_scripts/train_subpixel_fan.py --dataset_format wflw --train_dir WFLW/images \
        --annotations list_98pt_rect_attr_train.txt --validation_annotations list_98pt_rect_attr_test.txt ...
    accelerate launch training_scripts/train_subpixel_fan.py --dataset_format cofw --train_dir COFW ...
    accelerate launch training_scripts/train_subpixel_fan.py --dataset_format 300w_lp --train_dir 300W_LP \
        --validation_dir 300W/test ...
    accelerate launch training_scripts/train_subpixel_fan.py --dataset_format aflw --train_dir AFLW/flickr \
        --annotations AFLWinfo_release.mat ...   # or --dataset_format aflw_csv with HRNet's CSV lists

Data (`--dataset_format`; by default a WFLW list when `--annotations` is given, else `.pts` folders):
* `pts`: folders of images with iBUG `.pts` files (300W layout), `--train_dir` / `--validation_dir`;
* `wflw`: WFLW lists (`--annotations` / `--validation_annotations`), image paths relative to `--train_dir`;
* `cofw`: `--train_dir` holding `COFW_train_color.mat` and `COFW_test_color.mat` (evaluation on the test file);
* `300w_lp`: the `300W_LP/` root (`--lp_annotation` pts_2d | pts_3d | pt2d, `--include_flipped` with pt2d),
  evaluated on a `.pts` folder `--validation_dir` (e.g. 300W test);
* `aflw`: `AFLWinfo_release.mat` (`--annotations`) with the image root `--train_dir`, test split `--aflw_test_split`;
* `aflw_csv`: HRNet's `face_landmarks_aflw_{train,test}.csv` (`--annotations`, `--validation_annotations`).
A new model takes its landmark scheme (and mirror table) from the number of points in the data: 68 ibug68,
98 wflw98, 29 cofw29, 19 aflw19, 21 custom with the AFLW-21 table; `--config_overrides` wins.

Augmentation (training views only; evaluation uses the plain box crop): rotation U[-30, 30] deg, scale U[0.75, 1.25],
shift 5 %, mirror p=0.5 with the landmark permutation, colour jitter 0.2, random occlusion p=0.3, Gaussian blur
p=0.1 (the defaults of the SH-FAN spec, Sec. 3.5). Each step sees two views of every face (the augmented view and a
second similarity of it) and optimises the supervised heatmap loss plus `consistency_weight` times the Siamese
consistency loss.
"""

from pathlib import Path

import numpy as np
import torch

from hfvid.data.landmarks import LandmarkTrainingViews
from hfvid.metrics.landmarks import landmark_metrics
from hfvid.data.formats.w300lp import ANNOTATIONS as W300LP_ANNOTATIONS
from hfvid.models.subpixel_fan import (
    SubpixelFANImageProcessor,
    SubpixelFANConfig,
    SubpixelFANForFacialLandmarkDetection,
)
from hfvid.training import (evaluate_predictions, finish_training, make_accelerator, make_dataloaders, make_parser,
                            parse_config_overrides, prepare_training, training_results, validate_args)
from hfvid.models.subpixel_fan.configuration_subpixel_fan import SCHEME_SIZES
from hfvid.modules.heatmaps import AFLW21_FLIP_PERMUTATION

DATASET_FORMATS = ("pts", "wflw", "cofw", "300w_lp", "aflw", "aflw_csv")


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
    group.add_argument("--shift", type=float, default=0.05, help="Max shift of the first view (crop fraction).")
    group.add_argument("--color_jitter", type=float, default=0.2, help="Brightness/contrast/saturation range.")
    group.add_argument("--occlusion_prob", type=float, default=0.3, help="Probability of a random occluding box.")
    group.add_argument("--occlusion_size", type=float, nargs=2, default=(0.1, 0.4), help="Box side, crop fraction.")
    group.add_argument("--blur_prob", type=float, default=0.1, help="Probability of a Gaussian blur.")
    group.add_argument("--blur_sigma", type=float, nargs=2, default=(0.5, 2.0), help="Blur sigma, crop pixels.")
    group.add_argument("--second_view_rotation", type=float, default=15.0)
    group.add_argument("--second_view_scale", type=float, nargs=2, default=(0.9, 1.1))
    group.add_argument("--reference_scale", type=float, default=195.0, help="Crop rule: 195 (S3FD), 165 (tight).")
    group.add_argument("--nme_normalization", type=str, default=None,
                       choices=["inter_ocular", "inter_pupil", "box", "diag"],
                       help="Default: inter_ocular when the scheme has eye corners, else box.")
    group.add_argument("--dataset_format", choices=DATASET_FORMATS, default=None,
                       help="Annotation format of --train_dir / --annotations (see the module docstring).")
    group.add_argument("--lp_annotation", choices=W300LP_ANNOTATIONS, default="pts_2d",
                       help="300W-LP: landmarks/ pts_2d or pts_3d, or the pt2d beside each image.")
    group.add_argument("--include_flipped", action="store_true", help="300W-LP: add the _Flip copies (pt2d).")
    group.add_argument("--aflw_test_split", choices=["test", "test_frontal"], default="test",
                       help="AFLW (AFLWinfo_release.mat): full or frontal test split.")
    group.add_argument("--synthetic_train_samples", type=int, default=512)
    group.add_argument("--synthetic_eval_samples", type=int, default=64)
    group.add_argument("--synthetic_image_size", type=int, default=128)
    group.add_argument("--landmark_indices", type=int, nargs="+", default=None,
                       help="Synthetic data: train on this subset of the 68 points.")
    args = parser.parse_args(argv)
    return validate_args(args, dataset_names=("synthetic",))


def _truncate(records, limit):
    """The first ``limit`` records (all when ``limit`` is unset); None for an empty split."""
    if len(records) == 0:
        return None
    if not limit:
        return records
    return records.select(range(min(limit, len(records)))) if hasattr(records, "select") else records[:limit]


def load_records(args, split: str):
    """Records `{"image", "landmarks", "box"}` (+ optional `"visible"`) of the train or eval split, or None."""
    train = split == "train"
    limit = args.max_train_samples if train else args.max_eval_samples
    if args.dataset_name == "synthetic":
        from hfvid.data.synthetic import synthetic_faces

        count = args.synthetic_train_samples if train else args.synthetic_eval_samples
        records = synthetic_faces(count, args.synthetic_image_size, seed=args.seed + (0 if train else 1),
                                  landmark_indices=args.landmark_indices)
        return _truncate(records, limit)
    fmt = args.dataset_format or ("wflw" if args.annotations else "pts")
    if fmt in ("wflw", "aflw_csv", "aflw") and not args.annotations:
        raise ValueError(f"--dataset_format {fmt} needs --annotations (the annotation file of the training set)")
    if fmt != "pts" and args.train_dir is None:
        raise ValueError(f"--dataset_format {fmt} needs --train_dir (the image root or dataset folder)")
    if fmt == "cofw":
        from hfvid.data.formats.cofw import read_cofw_mat

        root = Path(args.train_dir if train else args.validation_dir or args.train_dir)
        name = "COFW_train_color.mat" if train else "COFW_test_color.mat"
        if not (root / name).is_file():
            raise ValueError(f"--dataset_format cofw: expected {name} in {root}")
        records = read_cofw_mat(root / name, "train" if train else "test")
    elif fmt == "aflw":
        from hfvid.data.formats.aflw import load_aflw

        records = load_aflw(args.train_dir, args.annotations, "train" if train else args.aflw_test_split)
    elif fmt == "300w_lp" and train:
        from hfvid.data.formats.w300lp import load_300w_lp

        records = load_300w_lp(args.train_dir, args.lp_annotation, include_flipped=args.include_flipped)
    else:  # pts (also 300W-LP's evaluation set), wflw, aflw_csv
        annotations = args.annotations if train else args.validation_annotations
        if fmt in ("wflw", "aflw_csv") and not annotations:
            return None
        folder = args.train_dir if train or fmt in ("wflw", "aflw_csv") else args.validation_dir
        if folder is None:
            return None
        if fmt == "wflw":
            from hfvid.data.formats import read_wflw_annotations

            records = read_wflw_annotations(annotations, folder)
        elif fmt == "aflw_csv":
            from hfvid.data.formats.aflw_csv import read_aflw_csv

            records = read_aflw_csv(annotations, folder)
        else:
            from hfvid.data.formats import load_pts_folder

            records = load_pts_folder(folder)
    return _truncate(records, limit)


def scheme_overrides(num_points: int) -> dict:
    """Config fields for a new model on data with `num_points` landmarks (scheme and mirror table)."""
    if num_points == 21:
        return {"num_landmarks": 21, "landmark_scheme": "custom", "flip_permutation": list(AFLW21_FLIP_PERMUTATION)}
    scheme = {size: name for name, size in SCHEME_SIZES.items()}.get(num_points)
    return {"num_landmarks": num_points, "landmark_scheme": scheme or "custom"}


def build_model(args, num_points: int | None = None):
    """Model + processor: from `--model_name_or_path`, or new with the scheme of `num_points` (see the docstring)."""
    if args.model_name_or_path:
        model = SubpixelFANForFacialLandmarkDetection.from_pretrained(args.model_name_or_path)
        processor = SubpixelFANImageProcessor.from_pretrained(args.model_name_or_path)
        if num_points is not None and model.config.num_landmarks != num_points:
            raise ValueError(f"--model_name_or_path {args.model_name_or_path} predicts {model.config.num_landmarks} "
                             f"landmarks but the data has {num_points}")
    else:
        overrides = parse_config_overrides(args.config_overrides)
        if args.landmark_indices and "num_landmarks" not in overrides:
            overrides.update(num_landmarks=len(args.landmark_indices), landmark_scheme="custom")
        elif num_points is not None and not {"num_landmarks", "landmark_scheme"} & set(overrides):
            overrides.update(scheme_overrides(num_points))
        config = SubpixelFANConfig(**overrides)
        model = SubpixelFANForFacialLandmarkDetection(config)
        processor = SubpixelFANImageProcessor(crop_size=config.image_size, reference_scale=args.reference_scale)
    if args.consistency_weight is not None:
        model.config.consistency_weight = args.consistency_weight
    return model, processor


def main(args):
    accelerator = make_accelerator(args)
    with accelerator.main_process_first():
        train_records = load_records(args, "train")
        eval_records = load_records(args, "eval")
    if train_records is None:
        raise ValueError("no training data: give --dataset_name synthetic or --train_dir (see --dataset_format)")
    model, processor = build_model(args, num_points=len(train_records[0]["landmarks"]))
    config = model.config
    if args.landmark_indices and config.flip_permutation is not None:
        raise ValueError("--landmark_indices selects a custom subset: the model needs landmark_scheme='custom'")

    views = dict(processor=processor, flip_permutation=config.flip_permutation, seed=args.seed)
    train_set = LandmarkTrainingViews(
        train_records, augment=True, second_view=not args.no_siamese, rotation=args.rotation,
        scale_range=tuple(args.scale_range), shift=args.shift, flip_prob=args.flip_prob,
        color_jitter=args.color_jitter, occlusion_prob=args.occlusion_prob, occlusion_size=tuple(args.occlusion_size),
        blur_prob=args.blur_prob, blur_sigma=tuple(args.blur_sigma),
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
        predictions, references, visible = evaluate_predictions(
            accelerator, model, eval_loader, lambda m, batch: (m(pixel_values=batch["pixel_values"]).landmarks,
                                                               batch["labels"], batch["landmark_mask"])
        )
        metrics = landmark_metrics(predictions, references, normalization=normalization, visible=visible,
                                   eye_indices=config.eye_indices if normalization == "inter_ocular" else None)
        metrics.pop("per_image_nme")
        metrics["mean_error_px"] = float(np.linalg.norm(predictions - references, axis=-1)[visible].mean())
        return metrics

    history = training.loop.run(lambda m, batch: m(**batch).loss, evaluate=evaluate)
    results = training_results(history, dataset=args.dataset_name or args.annotations or args.train_dir)
    finish_training(accelerator, args, model, processor, results)
    return {"history": history, "results": results}


if __name__ == "__main__":
    main(parse_args())
