#!/usr/bin/env python
"""Keypoints-to-Landmarks: discover K object landmarks without annotations, by self-training (Accelerate).

    accelerate launch training_scripts/train_keypoints_to_landmarks.py --dataset_name synthetic --output_dir out/k2l
    accelerate launch training_scripts/train_keypoints_to_landmarks.py --train_dir celeba/images \
        --annotations boxes.json --validation_dir mafl/test --validation_annotations mafl_test.json \
        --keypoint_initializer superpoint --superpoint_model path/to/superpoint --crop_rule celeba ...

Stages (`--stage`, default `all` runs them in order; each reuses what the previous one saved in `--output_dir`):

* `init-keypoints`: generic keypoints (corner detector, SuperPoint, or the data's own points) per image, mapped into
  the crop, outliers removed; saved as a `datasets` table `keypoints/` (image_id, points, descriptors).
* `stage1`: warm start on same-image pairs for `--warmup_steps`, then every `--round_steps` a correspondence
  recovery (main process: detection on all images and mirrors, descriptors streamed to disk, K-then-M clustering,
  labels broadcast to every rank) followed by training on the new pseudo-labels. Saved to `<output_dir>/stage1`.
* `stage2`: one recovery with the stage-1 model gives the K-landmark labels and the flip permutation; the descriptor
  head's last conv is swapped for K outputs and trained on masked heatmaps. Saved to `<output_dir>`.
* `evaluate`: forward / backward landmark regression on the validation set (annotations are used only here).

Real data (`--dataset_format`, readers in `hfvid.data.formats`; annotations are used only for the regression):

* `folder` (default): `--train_dir` is a folder of images; `--annotations` (optional) is a JSON file
  `{"<file name>": {"box": [x1, y1, x2, y2], "landmarks": [[x, y], ...]}}` (no box: the whole image); the
  validation set (`--validation_dir`, `--validation_annotations`) needs landmarks.
* `celeba`: `--train_dir img_align_celeba --annotations list_landmarks_align_celeba.txt --partition_file
  list_eval_partition.txt`: train on partition 0, evaluate on partition 2 (5 points, inter-ocular NME).
* `mafl`: as `celeba` plus `--mafl_train_list training.txt --mafl_test_list testing.txt`: train on the CelebA train
  partition minus MAFL-test, fit the regressor on MAFL-train, test on MAFL-test (the papers' protocol).
* `aflw`: `--train_dir` AFLW's `flickr/` and `--annotations AFLWinfo_release.mat` (19 points): train on the first
  20,000 faces of `ra`, evaluate on the other 4,386.
* `ls3d`: `--train_dir` 300W-LP images with `--landmark_dir` its `landmarks/` (`*_pts.mat`) or `.pts` beside the
  images; `--validation_dir` LS3D-W images with `.pts` beside them (its Torch7 `.t7` files are not read: convert).
`--bbox_file` (celeba/mafl) adds CelebA's `list_bbox_celeba.txt` boxes for the in-the-wild images. The regression is
fitted on up to `--regression_train_samples` annotated training images.
"""

import copy
import json
from functools import partial
from pathlib import Path

import numpy as np
import torch
from accelerate.logging import get_logger
from accelerate.utils import broadcast_object_list

from hfvid.data.formats.aflw import load_aflw
from hfvid.data.formats.celeba import EYE_INDICES, load_celeba_landmarks
from hfvid.data.formats.landmark_json import load_image_folder, with_boxes
from hfvid.data.formats.ls3d import load_ls3d_folder
from hfvid.metrics.landmark_regression import landmark_regression_nme
from hfvid.models.keypoints_to_landmarks import (
    CornerKeypointInitializer,
    GivenKeypointInitializer,
    KeypointsToLandmarksConfig,
    KeypointsToLandmarksForLandmarkDetection,
    KeypointsToLandmarksModel,
    KeypointsToLandmarksImageProcessor,
    SuperPointKeypointInitializer,
    initial_keypoints,
)
from hfvid.models.keypoints_to_landmarks.self_training import (
    PseudoLabels,
    PseudoLabelViews,
    SelfTrainingPairs,
    recover_correspondences_with_model,
)
from hfvid.modules.heatmaps import apply_affine, invert_affine
from hfvid.training import (evaluate_predictions, find_resume_checkpoint, finish_training, make_accelerator,
                            make_dataloaders, make_parser, parse_config_overrides, prepare_training, training_results,
                            validate_args)
from hfvid.training.checkpointing import load_trainer_state

logger = get_logger(__name__, log_level="INFO")
STAGES = ("all", "init-keypoints", "stage1", "stage2", "evaluate")
DATASET_FORMATS = ("folder", "celeba", "mafl", "aflw", "ls3d")


def parse_args(argv=None):
    parser = make_parser(__doc__)
    group = parser.add_argument_group("Keypoints-to-Landmarks")
    group.add_argument("--stage", choices=STAGES, default="all")
    group.add_argument("--dataset_format", choices=DATASET_FORMATS, default="folder",
                       help="How to read --train_dir/--annotations (see the top of this file).")
    group.add_argument("--partition_file", type=str, default=None, help="celeba/mafl: list_eval_partition.txt.")
    group.add_argument("--mafl_train_list", type=str, default=None, help="mafl: MAFL training.txt.")
    group.add_argument("--mafl_test_list", type=str, default=None, help="mafl: MAFL testing.txt.")
    group.add_argument("--bbox_file", type=str, default=None, help="celeba/mafl: list_bbox_celeba.txt (wild images).")
    group.add_argument("--landmark_dir", type=str, default=None, help="ls3d: 300W-LP landmarks/ (*_pts.mat).")
    group.add_argument("--model_name_or_path", type=str, default=None,
                       help="stage2: a stage-1 checkpoint (default <output_dir>/stage1); evaluate: any checkpoint.")
    group.add_argument("--config_overrides", type=str, default=None,
                       help='Config fields of a new model, e.g. "num_landmarks=5,num_clusters=10,hidden_size=32".')
    group.add_argument("--keypoint_initializer", choices=["corner", "superpoint", "given"], default="corner",
                       help="corner: Harris (CPU default); superpoint: --superpoint_model; given: the data's points.")
    group.add_argument("--superpoint_model", type=str, default=None, help="A SuperPointForKeypointDetection path.")
    group.add_argument("--outlier_search", choices=["torch", "faiss"], default="torch",
                       help="Exact k-NN of the outlier removal: chunked torch on the accelerator, or faiss (CPU).")
    group.add_argument("--crop_rule", choices=["square", "celeba"], default="square")
    group.add_argument("--box_scale", type=float, default=1.0)
    group.add_argument("--optimizer", choices=["rmsprop", "adamw"], default="rmsprop", help="Paper: RMSprop.")
    group.add_argument("--stage1_steps", type=int, default=None, help="Default: --max_train_steps, else 200000.")
    group.add_argument("--stage2_steps", type=int, default=None, help="Default: --max_train_steps, else 200000.")
    group.add_argument("--warmup_steps", type=int, default=30000, help="Same-image warm start before clustering.")
    group.add_argument("--round_steps", type=int, default=5000, help="Steps between correspondence recoveries.")
    group.add_argument("--max_points", type=int, default=None, help="Keypoints per view (default max_keypoints).")
    group.add_argument("--rotation", type=float, default=40.0)
    group.add_argument("--scale_range", type=float, nargs=2, default=(0.8, 1.2))
    group.add_argument("--shift", type=float, default=0.05)
    group.add_argument("--flip_prob", type=float, default=0.5)
    group.add_argument("--color_jitter", type=float, default=0.2)
    group.add_argument("--cutout_prob", type=float, default=0.5, help="Stage 2: one black square (80/256 of side).")
    group.add_argument("--clustering_restarts", type=int, default=10)
    group.add_argument("--clustering_iterations", type=int, default=100)
    group.add_argument("--regression_train_samples", type=int, default=None, help="Default: all annotated images.")
    group.add_argument("--nme_normalization", choices=["inter_ocular", "box", "diag"], default=None,
                       help="Default: inter_ocular with --eye_indices, else box (sqrt(w h) of the annotations).")
    group.add_argument("--eye_indices", type=int, nargs=2, default=None)
    group.add_argument("--forward_lambda", type=float, default=1e-3)
    group.add_argument("--backward_lambda", type=float, default=0.1)
    group.add_argument("--regression_repeats", type=int, default=1)
    group.add_argument("--synthetic_train_samples", type=int, default=512)
    group.add_argument("--synthetic_eval_samples", type=int, default=64)
    group.add_argument("--synthetic_image_size", type=int, default=64)
    group.add_argument("--synthetic_parts", type=int, default=5)
    group.add_argument("--synthetic_clutter", type=int, default=5)
    args = parser.parse_args(argv)
    validate_args(args, dataset_names=("synthetic",))
    if args.warmup_steps < 0 or args.round_steps < 1:
        raise ValueError("--warmup_steps must be >= 0 and --round_steps >= 1")
    if args.dataset_format in ("celeba", "mafl") and args.eye_indices is None:
        args.eye_indices = list(EYE_INDICES)  # the MAFL protocol's inter-ocular normaliser
    return args


def native_splits(args):
    """``(train loader, eval loader)`` of a native ``--dataset_format``: each a callable returning records."""
    need = {"celeba": ("train_dir", "annotations", "partition_file"), "aflw": ("train_dir", "annotations"),
            "mafl": ("train_dir", "annotations", "partition_file", "mafl_train_list", "mafl_test_list"),
            "ls3d": ("train_dir",)}[args.dataset_format]
    missing = [f"--{name}" for name in need if getattr(args, name) is None]
    if missing:
        raise ValueError(f"--dataset_format {args.dataset_format} needs {' '.join(missing)}")
    if args.dataset_format in ("celeba", "mafl"):
        celeba = partial(load_celeba_landmarks, args.train_dir, args.annotations, partition_file=args.partition_file,
                         mafl_train_file=args.mafl_train_list, mafl_test_file=args.mafl_test_list,
                         bbox_file=args.bbox_file)
        if args.dataset_format == "celeba":
            return partial(celeba, split="train"), partial(celeba, split="test")

        def mafl_train():
            """CelebA train minus MAFL-test; only the MAFL-train images keep landmarks (the regressor's set)."""
            regression = {r["image"] for r in celeba(split="mafl_train")}
            return [r if r["image"] in regression else {k: v for k, v in r.items() if k != "landmarks"}
                    for r in celeba(split="train")]

        return mafl_train, partial(celeba, split="mafl_test")
    if args.dataset_format == "aflw":
        return (partial(load_aflw, args.train_dir, args.annotations, "train"),
                partial(load_aflw, args.train_dir, args.annotations, "test"))
    validation = partial(load_ls3d_folder, args.validation_dir) if args.validation_dir else lambda: None
    return partial(load_ls3d_folder, args.train_dir, args.landmark_dir), validation


def load_records(args, split: str) -> list[dict] | None:
    """Records ``{"image", "box", optional "landmarks", optional "keypoints"}`` of the train or eval split."""
    train = split == "train"
    limit = args.max_train_samples if train else args.max_eval_samples
    if args.dataset_name == "synthetic":
        from hfvid.data.synthetic_objects import synthetic_objects

        count = args.synthetic_train_samples if train else args.synthetic_eval_samples
        records = synthetic_objects(count, args.synthetic_image_size, args.synthetic_parts, args.synthetic_clutter,
                                    seed=args.seed + (0 if train else 1))
        return records[:limit] if limit else records
    if args.dataset_format != "folder":
        records = native_splits(args)[0 if train else 1]()
        records = None if records is None else with_boxes(records[:limit] if limit else records)
    elif train:
        records = load_image_folder(args.train_dir, args.annotations, limit)
    else:
        records = None if args.validation_dir is None else load_image_folder(
            args.validation_dir, args.validation_annotations, limit)
    if records is None:
        return None
    if not train and not all("landmarks" in r for r in records):
        raise ValueError("every validation image needs landmarks in --validation_annotations (for the regression)")
    return records


def build_config(args) -> KeypointsToLandmarksConfig:
    return KeypointsToLandmarksConfig(**parse_config_overrides(args.config_overrides))


def make_initializer(args, config):
    if args.keypoint_initializer == "superpoint":
        if not args.superpoint_model:
            raise ValueError("--keypoint_initializer superpoint needs --superpoint_model (a local checkpoint)")
        return SuperPointKeypointInitializer.from_pretrained(
            args.superpoint_model, threshold=config.keypoint_threshold, nms_px=config.keypoint_nms_px,
            reference_height=config.keypoint_nms_reference_height)
    if args.keypoint_initializer == "given":
        return GivenKeypointInitializer()
    return CornerKeypointInitializer()


def make_optimizer(args, params, lr: float):
    if args.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=args.weight_decay)
    return torch.optim.RMSprop(params, lr=lr, weight_decay=args.weight_decay)


# ---------------------------------------------------------------------------------------------------- init
def run_init_keypoints(args, accelerator, config, processor, records) -> list[dict]:
    """Generic keypoints of the training set, cached as a `datasets` table in `<output_dir>/keypoints`."""
    import datasets

    path = Path(args.output_dir) / "keypoints"
    with accelerator.main_process_first():
        if not (path / "dataset_info.json").is_file():
            table = initial_keypoints(records, processor, make_initializer(args, config), config.outlier_fraction,
                                      config.outlier_neighbors, device=accelerator.device,
                                      search_backend=args.outlier_search)
            if accelerator.is_main_process:
                datasets.Dataset.from_dict({
                    "image_id": [row["index"] for row in table],
                    "points": [row["points"].tolist() for row in table],
                    "descriptors": [row["descriptors"].tolist() for row in table],
                }).save_to_disk(str(path))
        stored = datasets.load_from_disk(str(path))
    logger.info(f"generic keypoints: {sum(len(p) for p in stored['points'])} in {len(stored)} images")
    return [{"index": row["image_id"], "points": np.asarray(row["points"], np.float32).reshape(-1, 2)}
            for row in stored]


# ---------------------------------------------------------------------------------------------------- eval
class CropSet(torch.utils.data.Dataset):
    """Plain object crops (no augmentation) with their crop matrices and record index."""

    def __init__(self, records, processor):
        self.records, self.processor = records, processor

    def __len__(self):
        return len(self.records)

    def __getitem__(self, index):
        from hfvid.modules.images import crop_faces, image_to_tensor

        record = self.records[index]
        matrix = self.processor.crop_matrices(torch.as_tensor(np.asarray(record["box"], np.float32))[None])
        crop = crop_faces(image_to_tensor(record["image"]), matrix, self.processor.crop_size)[0]
        return {"pixel_values": self.processor.normalize_crops(crop), "crop_matrix": matrix[0], "index": index}


def predict_records(accelerator, model, records, processor, batch_size) -> np.ndarray:
    """Discovered landmarks (N, K, 2) in image pixels (NaN where a stage-1 model found none), gathered."""
    loader = accelerator.prepare(torch.utils.data.DataLoader(CropSet(records, processor), batch_size=batch_size))
    unwrapped = accelerator.unwrap_model(model)

    def predict(m, batch):
        if isinstance(unwrapped, KeypointsToLandmarksModel):
            crop_points = unwrapped.predict_landmarks(batch["pixel_values"])
        else:
            flip = unwrapped.config.flip_permutation is not None
            crop_points = m(pixel_values=batch["pixel_values"], flip_test=flip).landmarks
        return apply_affine(invert_affine(batch["crop_matrix"].float()), crop_points.float()), batch["index"]

    points, indices = evaluate_predictions(accelerator, model, loader, predict)
    out = np.full((len(records),) + points.shape[1:], np.nan, np.float32)
    out[indices] = points
    return out


def regression_metrics(args, accelerator, model, processor, train_records, eval_records) -> dict:
    """Forward and backward regression NME (%) of the model's landmarks against the annotations."""
    pool = [r for r in train_records if "landmarks" in r]
    if not eval_records or len(pool) < 2:
        return {}
    pool = pool[: args.regression_train_samples] if args.regression_train_samples else pool
    normalization = args.nme_normalization or ("inter_ocular" if args.eye_indices else "box")
    options = dict(normalizer=normalization, eye_indices=args.eye_indices, n_repeats=args.regression_repeats,
                   seed=args.seed)
    size = args.per_device_eval_batch_size
    train_x = predict_records(accelerator, model, pool, processor, size)
    test_x = predict_records(accelerator, model, eval_records, processor, size)
    train_y = np.stack([r["landmarks"] for r in pool])
    test_y = np.stack([r["landmarks"] for r in eval_records])
    forward = landmark_regression_nme(test_x, test_y, train_x, train_y, "forward", args.forward_lambda, **options)
    backward = landmark_regression_nme(test_x, test_y, train_x, train_y, "backward", args.backward_lambda, **options)
    mean_shape = landmark_regression_nme(np.zeros_like(test_x[:, :1]), test_y, np.zeros_like(train_x[:, :1]),
                                         train_y, "forward", args.forward_lambda, **options)
    return {"forward_nme": forward["nme"], "backward_nme": backward["nme"], "mean_shape_nme": mean_shape["nme"],
            "regression_train_images": len(pool), "detected_fraction": float(np.isfinite(test_x).all(-1).mean()),
            "normalization": normalization}


# ---------------------------------------------------------------------------------------------------- stage 1
def stage_args(args, subdir: str | None, steps: int, **changes):
    """A copy of the flags for one stage: its own output folder (checkpoints, model) and step budget."""
    new = copy.copy(args)
    new.output_dir = str(Path(args.output_dir) / subdir) if subdir else args.output_dir
    new.max_train_steps = steps
    for key, value in changes.items():
        setattr(new, key, value)
    return new


def _labels_for_resume(args1) -> PseudoLabels | None:
    """The pseudo-labels of the last recovery at or before the checkpoint we resume from."""
    path = find_resume_checkpoint(args1)
    if path is None:
        return None
    step = load_trainer_state(path)["global_step"]
    files = sorted(Path(args1.output_dir, "pseudo_labels").glob("step_*.npz"), key=lambda p: int(p.stem[5:]))
    files = [f for f in files if int(f.stem[5:]) <= step]
    return PseudoLabels.load(files[-1]) if files else None


def run_stage1(args, config, processor, records, eval_records, table):
    steps = args.stage1_steps or args.max_train_steps or 200_000
    args1 = stage_args(args, "stage1", steps, eval_steps=args.round_steps, push_to_hub=False)
    accelerator = make_accelerator(args1)  # one Accelerator per stage: its checkpoints hold only this stage
    model = KeypointsToLandmarksModel(config)
    labels = _labels_for_resume(args1) or PseudoLabels.from_keypoints(table)
    dataset = SelfTrainingPairs(
        records, processor, labels, config.heatmap_size, max_points=args.max_points or config.max_keypoints,
        num_negatives=config.pairs_per_sample, min_distance=config.min_negative_distance, rotation=args.rotation,
        scale_range=tuple(args.scale_range), shift=args.shift, flip_prob=args.flip_prob,
        color_jitter=args.color_jitter, seed=args.seed,
    )
    loader, _ = make_dataloaders(args, dataset)
    optimizer = make_optimizer(args, model.parameters(), args.learning_rate)
    training = prepare_training(accelerator, args1, model, optimizer, loader,
                                project_name="keypoints_to_landmarks_stage1", processor=processor)
    model, loop = training.model, training.loop

    def recover_round():
        """Correspondence recovery on the main process, labels broadcast to every rank."""
        step = loop.global_step
        if step < args.warmup_steps and step < loop.max_train_steps:
            return {"pseudo_labelled_points": float(len(dataset.labels.ids))}
        unwrapped = accelerator.unwrap_model(model)
        payload = [None]
        if accelerator.is_main_process:
            new_labels, _, _ = recover_correspondences_with_model(
                unwrapped, records, processor, seed=args.seed + step, batch_size=args.per_device_eval_batch_size,
                workdir=Path(args1.output_dir) / "recovery", n_init=args.clustering_restarts,
                max_iter=args.clustering_iterations)
            folder = Path(args1.output_dir) / "pseudo_labels"
            folder.mkdir(parents=True, exist_ok=True)
            new_labels.save(folder / f"step_{step}.npz")
            payload = [(new_labels, unwrapped.k_centroids.cpu(), unwrapped.m_centroids.cpu())]
        new_labels, k_centroids, m_centroids = broadcast_object_list(payload)[0]
        unwrapped.k_centroids.copy_(k_centroids.to(unwrapped.k_centroids.device))
        unwrapped.m_centroids.copy_(m_centroids.to(unwrapped.m_centroids.device))
        dataset.set_labels(new_labels)
        metrics = {"pseudo_labelled_points": float(len(new_labels.ids)),
                   "labelled_images": float(len(np.unique(new_labels.image)))}
        regression = regression_metrics(args, accelerator, model, processor, records, eval_records)
        metrics.update({f"stage1_{k}": v for k, v in regression.items() if isinstance(v, float)})
        return metrics

    history = loop.run(lambda m, batch: m(**batch).loss, evaluate=recover_round)
    results = training_results(history, stage=1, dataset=args.dataset_name or args.train_dir)
    finish_training(accelerator, args1, model, processor, results)
    return accelerator.unwrap_model(model), history


# ---------------------------------------------------------------------------------------------------- stage 2
def run_stage2(args, stage1_model, processor, records, eval_records):
    steps = args.stage2_steps or args.max_train_steps or 200_000
    args2 = stage_args(args, None, steps)
    accelerator = make_accelerator(args2)
    stage1_model = stage1_model.to(accelerator.device)
    payload = [None]
    if accelerator.is_main_process:
        _, landmarks, result = recover_correspondences_with_model(
            stage1_model, records, processor, seed=args.seed, batch_size=args.per_device_eval_batch_size,
            workdir=Path(args.output_dir) / "stage2_recovery", n_init=args.clustering_restarts,
            max_iter=args.clustering_iterations)
        payload = [(landmarks, result.k_flip_permutation)]
    landmarks, flip = broadcast_object_list(payload)[0]
    model = KeypointsToLandmarksForLandmarkDetection.from_stage1(stage1_model, flip_permutation=flip)
    config = model.config
    labelled = [dict(records[i], landmarks=landmarks[i]) for i in sorted(landmarks)]  # crop px
    if not labelled:
        raise ValueError("stage-1 correspondence recovery labelled no image; train stage 1 longer")
    dataset = PseudoLabelViews(labelled, processor, flip_permutation=flip if args.flip_prob > 0 else None,
                               cutout_prob=args.cutout_prob, rotation=args.rotation,
                               scale_range=tuple(args.scale_range), shift=args.shift, flip_prob=args.flip_prob,
                               color_jitter=args.color_jitter, seed=args.seed)
    loader, _ = make_dataloaders(args, dataset)
    head = list(model.landmark_head.parameters())
    groups = [{"params": list(model.backbone.parameters()),
               "lr": args.learning_rate * config.stage2_backbone_lr_ratio},
              {"params": head, "lr": args.learning_rate}]
    optimizer = make_optimizer(args, groups, args.learning_rate)
    training = prepare_training(accelerator, args2, model, optimizer, loader,
                                project_name="keypoints_to_landmarks_stage2", processor=processor)
    model = training.model

    def evaluate():
        metrics = regression_metrics(args, accelerator, model, processor, records, eval_records)
        return {k: v for k, v in metrics.items() if not isinstance(v, str)} or None

    history = training.loop.run(lambda m, batch: m(**batch).loss, evaluate=evaluate)
    results = training_results(history, stage1_steps=args.stage1_steps or args.max_train_steps,
                               labelled_images=len(labelled), dataset=args.dataset_name or args.train_dir,
                               normalization=args.nme_normalization or ("inter_ocular" if args.eye_indices else "box"))
    finish_training(accelerator, args2, model, processor, results)
    return accelerator.unwrap_model(model), history, results


def load_checkpoint(path):
    """A saved stage-1 or stage-2 model, by the architecture recorded in its config."""
    config = KeypointsToLandmarksConfig.from_pretrained(path)
    if "KeypointsToLandmarksModel" in (config.architectures or []):
        return KeypointsToLandmarksModel.from_pretrained(path)
    return KeypointsToLandmarksForLandmarkDetection.from_pretrained(path)


def main(args):
    accelerator = make_accelerator(args)
    output = Path(args.output_dir)
    with accelerator.main_process_first():
        records = load_records(args, "train")
        eval_records = load_records(args, "eval")
    if args.stage == "evaluate":
        path = args.model_name_or_path or args.output_dir
        model = accelerator.prepare(load_checkpoint(path))
        processor = KeypointsToLandmarksImageProcessor.from_pretrained(path)
        results = regression_metrics(args, accelerator, model, processor, records, eval_records)
        if accelerator.is_main_process:
            (output / "eval_results.json").write_text(json.dumps(results, indent=2))
        return {"results": results}

    if args.stage in ("stage2",) or (args.model_name_or_path and args.stage == "all"):
        stage1_path = args.model_name_or_path or str(output / "stage1")
        processor = KeypointsToLandmarksImageProcessor.from_pretrained(stage1_path)
    else:
        config = build_config(args)
        processor = KeypointsToLandmarksImageProcessor(crop_size=config.image_size, crop_rule=args.crop_rule,
                                                    box_scale=args.box_scale)
    out = {}
    if args.stage in ("all", "init-keypoints", "stage1") and not args.model_name_or_path:
        table = run_init_keypoints(args, accelerator, config, processor, records)
        out["keypoints"] = table
        if args.stage == "init-keypoints":
            return out
        stage1_model, out["stage1_history"] = run_stage1(args, config, processor, records, eval_records, table)
        if args.stage == "stage1":
            return out
    else:
        stage1_model = KeypointsToLandmarksModel.from_pretrained(args.model_name_or_path or str(output / "stage1"))
    _, out["history"], out["results"] = run_stage2(args, stage1_model, processor, records, eval_records)
    return out


if __name__ == "__main__":
    main(parse_args())
