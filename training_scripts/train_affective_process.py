#!/usr/bin/env python
"""Train Affective Processes (AP) with Accelerate, in the spec's stages.

    accelerate launch training_scripts/train_affective_process.py --dataset_name synthetic --output_dir out/ap
    accelerate launch training_scripts/train_affective_process.py --dataset_name synthetic --task au ...
    accelerate launch training_scripts/train_affective_process.py --dataset_format affwild2 \
        --annotations VA_Set/Train_Set --train_dir cropped_aligned \
        --validation_annotations VA_Set/Validation_Set --validation_dir cropped_aligned ...

Stages (each skipped when its output already exists in `--output_dir`, so a re-run resumes):
1. **backbone**: the per-frame CNN regresses the labels from single frames (MSE, + (1 - CCC) for valence/arousal),
   `--backbone_steps` steps; saved to `<output_dir>/stage1_backbone`.
2. **cache**: the frozen backbone encodes every frame once; features (float16) and pseudo-labels go to a `datasets`
   Arrow table keyed by (video_id, frame) in `<output_dir>/feature_cache/{train,eval}`.
3. **temporal model** (`--temporal_model ap` by default; `none`, `gru`, `transformer`, `np` are the ablations):
   trained on windows of cached features with the shared training loop (checkpoints, `--resume_from_checkpoint`).
Evaluation: windowed inference over whole validation sequences; CCC (valence/arousal) or ICC(3,1)/MAE (AUs) per
output and averaged, invalid frames excluded. Real data: `--dataset_format` {affwild2, disfa, bp4d, sewa} label files
(`--annotations`) and face crops `<train_dir>/<video_id>/<n>.jpg` (n = frame + `--first_frame_index`, 1 by default,
any zero padding; read by `hfvid.data.frame_folders`, which refuses an extraction numbered the other way).
AU intensity protocols (`hfvid.data.au_folds`): `--fold k` trains DISFA on the two folds other than k (0-2) and
evaluates on fold k, `--fold 0` with BP4D is the FERA2015 train / development split; both sides are read from
`--annotations` unless `--validation_annotations` is given. A DISFA / BP4D split whose train and eval subjects overlap
is refused. `--pseudo_label_folds K` (K >= 2; 1, the default, keeps the plain path) makes the training context's
pseudo-labels out-of-fold: K more stage-1 backbones, each trained on all training subjects but one group, predict
their held-out group, so no training video's pseudo-labels come from a model that saw its labels (the spec's
leakage pitfall); features and all evaluation pseudo-labels stay those of the backbone trained on every training
subject, so the temporal model sees one feature space.
Stage 1 runs through the shared training loop too (constant `--backbone_learning_rate`, accumulation, clipping,
checkpoints under `<output_dir>/stage1/checkpoints`, exact `--resume_from_checkpoint latest`).
"""

import copy
import json
from pathlib import Path

import numpy as np
import torch
from accelerate.logging import get_logger

from hfvid.data.affect_sequences import FrameDataset, labelled_sequences, load_frame
from hfvid.data.au_folds import AU_PROTOCOL_FORMATS, au_fold, check_subjects_disjoint
from hfvid.data.frame_folders import FIRST_FRAME_INDEX
from hfvid.metrics.affect import affect_metrics
from hfvid.models.affective_process import (
    AffectiveProcessConfig,
    AffectiveProcessForAffectEstimation,
    AffectiveProcessVideoProcessor,
)
from hfvid.models.affective_process.modeling_affective_process import frame_regression_loss
from hfvid.training import (
    finish_training,
    make_accelerator,
    make_dataloaders,
    make_parser,
    prepare_training,
    training_results,
    validate_args,
)

logger = get_logger(__name__, log_level="INFO")
TINY_BACKBONE = {"embedding_size": 8, "hidden_sizes": [16, 32], "depths": [1, 1], "layer_type": "basic"}


def parse_args(argv=None):
    parser = make_parser(__doc__)
    group = parser.add_argument_group("Affective Processes")
    group.add_argument("--task", choices=["va", "au"], default="va", help="valence/arousal or AU intensity.")
    group.add_argument("--dataset_format", choices=["affwild2", "disfa", "bp4d", "sewa"], default=None)
    group.add_argument("--first_frame_index", type=int, choices=[0, 1], default=FIRST_FRAME_INDEX,
                       help="Number of a video's first frame file in --train_dir/--validation_dir (default 1).")
    group.add_argument("--model_name_or_path", type=str, default=None, help="Start from an hfvid AP checkpoint.")
    group.add_argument("--config_overrides", type=str, default=None,
                       help='JSON object of config fields, e.g. \'{"latent_dim": 8, "window_size": 32}\'.')
    group.add_argument("--temporal_model", choices=["ap", "np", "none", "gru", "transformer"], default=None)
    group.add_argument("--backbone_steps", type=int, default=200, help="Stage-1 steps (0: keep the backbone).")
    group.add_argument("--backbone_learning_rate", type=float, default=1e-3)
    group.add_argument("--backbone_batch_size", type=int, default=64, help="Frames per stage-1 batch.")
    group.add_argument("--backbone_init", type=str, default="random",
                       help="Start of the stage-1 ResNet: random, torchvision:resnet50 (ImageNet), a Hub id / folder "
                            "(microsoft/resnet-50, an hfvid face pre-training model); ignored with --model_name_or_path.")
    group.add_argument("--fold", type=int, default=None,
                       help="AU protocol of hfvid.data.au_folds: DISFA test fold 0-2 (train on the other two), BP4D 0 "
                            "(FERA2015 train / development). Default: the split of --annotations/--validation_annotations.")
    group.add_argument("--pseudo_label_folds", type=int, default=1,
                       help="K >= 2: out-of-fold training pseudo-labels from K backbones, each trained without one "
                            "group of training subjects (ours: the spec gives no K; 1 = off, the stage-1 model's own).")
    group.add_argument("--pseudo_label_noise", type=float, default=0.0,
                       help="Std of noise added to cached *training* pseudo-labels (pseudo-label leakage pitfall).")
    group.add_argument("--synthetic_train_videos", type=int, default=64)
    group.add_argument("--synthetic_eval_videos", type=int, default=16)
    group.add_argument("--synthetic_length", type=int, default=64)
    group.add_argument("--synthetic_image_size", type=int, default=32)
    args = parser.parse_args(argv)
    if args.dataset_name is None and args.dataset_format is None:
        raise ValueError("real data needs --dataset_format {affwild2, disfa, bp4d, sewa} with --annotations")
    if args.backbone_steps < 0:
        raise ValueError(f"--backbone_steps must be >= 0, got {args.backbone_steps}")
    if args.fold is not None and args.dataset_format not in AU_PROTOCOL_FORMATS:
        raise ValueError(f"--fold selects a DISFA / BP4D protocol, got --dataset_format {args.dataset_format!r} "
                         f"(expected one of {AU_PROTOCOL_FORMATS})")
    if args.fold is not None:
        au_fold(args.dataset_format, args.fold)  # a clear error for a fold the protocol does not have
    if args.pseudo_label_folds < 1:
        raise ValueError(f"--pseudo_label_folds must be >= 1 (1: off), got {args.pseudo_label_folds}")
    if args.pseudo_label_folds > 1 and args.backbone_steps == 0:
        raise ValueError(f"--pseudo_label_folds {args.pseudo_label_folds} needs stage-1 training (--backbone_steps > 0)"
                         ": an untrained backbone's pseudo-labels cannot leak the training labels")
    return validate_args(args, dataset_names=("synthetic",), real_data="--dataset_format")


# ---------------------------------------------------------------------------------------------- data
def load_sequences(args, split: str) -> list[dict]:
    """Sequences ``{"video_id", "frames" (list of arrays or paths | None), "labels" (T, K) NaN = missing}``."""
    train = split == "train"
    limit = args.max_train_samples if train else args.max_eval_samples
    if args.dataset_name == "synthetic":
        from hfvid.data.synthetic_affect import synthetic_affect_videos

        count = args.synthetic_train_videos if train else args.synthetic_eval_videos
        videos = synthetic_affect_videos(count, args.synthetic_length, args.task, args.synthetic_image_size,
                                         seed=args.seed + (0 if train else 10_000))
        sequences = [{"video_id": v["video_id"], "frames": list(v["frames"]), "labels": v["labels"]} for v in videos]
        return sequences[:limit] if limit else sequences
    annotations = args.annotations if train else args.validation_annotations
    image_root = args.train_dir if train else (args.validation_dir or args.train_dir)
    subjects = None
    if args.fold is not None:  # one label folder holds both sides of the protocol
        split = au_fold(args.dataset_format, args.fold)
        subjects = list(split.train_subjects if train else split.test_subjects)
        annotations = annotations or args.annotations
    if annotations is None:
        return None
    sequences = labelled_sequences(args.dataset_format, annotations, image_root, subjects=subjects,
                                   first_frame_index=args.first_frame_index)
    return sequences[:limit] if limit else sequences


def load_splits(args) -> tuple[list[dict], list[dict] | None]:
    """Train and eval sequences; a DISFA / BP4D split whose sides share a subject raises ``ValueError``."""
    train, evaluation = load_sequences(args, "train"), load_sequences(args, "eval")
    if args.dataset_format in AU_PROTOCOL_FORMATS and evaluation:
        split = (au_fold(args.dataset_format, args.fold).protocol if args.fold is not None
                 else f"--annotations {args.annotations} / --validation_annotations {args.validation_annotations}")
        check_subjects_disjoint({s["subject_id"] for s in train}, {s["subject_id"] for s in evaluation}, split)
    return train, evaluation


def frame_collate(processor):
    def collate(items):
        pixel_values = processor([frame for frame, _ in items])["pixel_values"][0]
        return {"pixel_values": pixel_values, "labels": torch.from_numpy(np.stack([l for _, l in items]))}

    return collate


class WindowDataset(torch.utils.data.Dataset):
    """Stage 3: windows of ``window_size`` cached frames (stride ``window_size // 2``), padded with masked frames."""

    def __init__(self, sequences, window_size: int):
        self.sequences, self.window_size = sequences, window_size
        self.windows = []
        for i, seq in enumerate(sequences):
            length = len(seq["labels"])
            starts = range(0, max(length - window_size, 0) + 1, max(window_size // 2, 1))
            self.windows += [(i, s) for s in starts]

    def __len__(self):
        return len(self.windows)

    def __getitem__(self, index):
        i, start = self.windows[index]
        seq, w = self.sequences[i], self.window_size
        n = min(w, len(seq["labels"]) - start)

        def pad(array, fill):
            out = np.full((w, *array.shape[1:]), fill, dtype=np.float32 if array.dtype != bool else bool)
            out[:n] = array[start : start + n]
            return torch.from_numpy(out)

        return {"features": pad(seq["features"], 0.0), "pseudo_labels": pad(seq["pseudo_labels"], 0.0),
                "labels": pad(seq["labels"], np.nan), "frame_mask": pad(seq["frame_mask"], False)}


# ---------------------------------------------------------------------------------------------- model
def build_model(args):
    if args.model_name_or_path:
        model = AffectiveProcessForAffectEstimation.from_pretrained(args.model_name_or_path)
        processor = AffectiveProcessVideoProcessor.from_pretrained(args.model_name_or_path)
        return model, processor
    overrides = json.loads(args.config_overrides) if args.config_overrides else {}
    if args.temporal_model:
        overrides["temporal_model"] = args.temporal_model
    if args.task == "au":
        overrides.setdefault("output_range", [0.0, 5.0])
        if args.dataset_name == "synthetic":
            from hfvid.data.synthetic_affect import AU_NAMES

            overrides.setdefault("num_outputs", len(AU_NAMES))
            overrides.setdefault("output_names", list(AU_NAMES))
        elif args.dataset_format == "bp4d":
            from hfvid.data.formats.bp4d import FERA2015_AU_NAMES

            overrides.setdefault("num_outputs", 5)
            overrides.setdefault("output_names", FERA2015_AU_NAMES)
        else:
            overrides.setdefault("num_outputs", 12)
    if args.dataset_name == "synthetic":
        overrides.setdefault("backbone_config", TINY_BACKBONE)
        overrides.setdefault("image_size", args.synthetic_image_size)
    overrides["backbone_init"] = args.backbone_init
    config = AffectiveProcessConfig(**overrides)
    size = config.image_size
    processor = AffectiveProcessVideoProcessor(size={"height": size, "width": size})
    return AffectiveProcessForAffectEstimation(config), processor


def stage1_args(args, name: str = "stage1"):
    """The flags of stage 1: its own steps, batch size, constant lr and checkpoint folder ``<output_dir>/<name>``
    (``stage1``, or ``stage1_oof<g>`` for an out-of-fold backbone); the shared rest."""
    stage = copy.copy(args)
    stage.output_dir = str(Path(args.output_dir) / name)
    stage.max_train_steps, stage.learning_rate = args.backbone_steps, args.backbone_learning_rate
    stage.per_device_train_batch_size = args.backbone_batch_size
    stage.lr_scheduler_type, stage.num_warmup_steps, stage.eval_steps = "constant", 0, None
    stage.report_to = "none"  # trackers start with stage 3 (one step axis)
    if args.resume_from_checkpoint not in (None, "latest") and not is_stage1_checkpoint(args, name):
        stage.resume_from_checkpoint = None  # another stage's checkpoint ("latest" looks in <name>/checkpoints)
    return stage


def is_stage1_checkpoint(args, name: str | None = None) -> bool:
    """Whether ``--resume_from_checkpoint`` is a path to a checkpoint under ``<output_dir>/<name>/checkpoints``
    (any stage-1 folder, out-of-fold ones included, when ``name`` is None)."""
    resume = args.resume_from_checkpoint
    if resume in (None, "latest"):
        return False
    folder = Path(resume).resolve().parent.parent
    if name is not None:
        return folder == (Path(args.output_dir) / name).resolve()
    return folder.parent == Path(args.output_dir).resolve() and folder.name.startswith("stage1")


def train_backbone(accelerator, args, model, processor, sequences, name: str = "stage1"):
    """Stage 1: per-frame regression with the backbone's own head, through the shared loop (checkpoints under
    ``<output_dir>/<name>``)."""
    stage = stage1_args(args, name)
    encoder = model.affective_process.frame_encoder
    loader, _ = make_dataloaders(stage, FrameDataset(sequences, seed=args.seed, augment=True),
                                 collate_fn=frame_collate(processor))
    optimizer = torch.optim.Adam(encoder.parameters(), lr=stage.learning_rate)
    loop = prepare_training(accelerator, stage, encoder, optimizer, loader, project_name="affective_process").loop

    def compute_loss(encoder, batch):
        _, predictions = encoder(batch["pixel_values"][None])
        labels = batch["labels"][None]
        valid = ~torch.isnan(labels)
        return frame_regression_loss(predictions, torch.nan_to_num(labels), valid, ccc=args.task == "va")

    history = loop.run(compute_loss)
    accelerator.free_memory()  # stage 3 prepares its own objects; checkpoints must not hold stage-1 state
    return [loss for _, loss in history["losses"]]


@torch.no_grad()
def cache_features(model, processor, sequences, batch_size: int) -> list[dict]:
    """Stage 2: features (float16) and pseudo-labels of every frame; frames without an image are masked."""
    model.eval()
    device, dim, k = model.device, model.config.feature_dim, model.config.num_outputs
    cached = []
    for seq in sequences:
        length = len(seq["labels"])
        features, pseudo = np.zeros((length, dim), np.float16), np.zeros((length, k), np.float32)
        mask = np.array([f is not None for f in seq["frames"]])
        indices = np.flatnonzero(mask)
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            pixel_values = processor([load_frame(seq["frames"][t]) for t in chunk])["pixel_values"].to(device)
            x, y, _, _ = model.affective_process.encode_frames(pixel_values=pixel_values.to(model.dtype))
            features[chunk], pseudo[chunk] = x[0].float().cpu().numpy(), y[0].float().cpu().numpy()
        cached.append({"video_id": seq["video_id"], "features": features, "pseudo_labels": pseudo,
                       "labels": seq["labels"].astype(np.float32), "frame_mask": mask})
    return cached


def subject_of(sequence: dict) -> str:
    """A sequence's subject (a synthetic video is its own subject)."""
    return sequence.get("subject_id") or sequence["video_id"]


def subject_groups(sequences, num_groups: int) -> list[list[str]]:
    """The training subjects, sorted, dealt round-robin into ``num_groups`` groups (deterministic, balanced)."""
    subjects = sorted({subject_of(s) for s in sequences})
    if len(subjects) < num_groups:
        raise ValueError(f"--pseudo_label_folds {num_groups} needs at least {num_groups} training subjects, "
                         f"got {len(subjects)}: {subjects}")
    return [subjects[g::num_groups] for g in range(num_groups)]


def out_of_fold_pseudo_labels(accelerator, args, start_model, processor, sequences, train_cache) -> list[dict]:
    """Replace the training pseudo-labels in ``train_cache`` (main process) with out-of-fold ones: for each subject
    group, a copy of ``start_model`` (the model before stage 1) is trained by :func:`train_backbone` on the other
    groups and predicts the held-out group. Returns, per group, the subjects its backbone trained on and the videos
    it predicted (saved beside the cache as provenance)."""
    folds = []
    for g, held_out in enumerate(subject_groups(sequences, args.pseudo_label_folds)):
        model = copy.deepcopy(start_model)
        fit = [s for s in sequences if subject_of(s) not in held_out]
        train_backbone(accelerator, args, model, processor, fit, name=f"stage1_oof{g}")
        predict = [i for i, s in enumerate(sequences) if subject_of(s) in held_out]
        if accelerator.is_main_process:
            model.to(accelerator.device)
            predicted = cache_features(model, processor, [sequences[i] for i in predict], args.backbone_batch_size)
            for i, seq in zip(predict, predicted):
                train_cache[i]["pseudo_labels"] = seq["pseudo_labels"]
        folds.append({"held_out_subjects": list(held_out), "train_subjects": sorted({subject_of(s) for s in fit}),
                      "predicted_videos": [sequences[i]["video_id"] for i in predict]})
        del model
        accelerator.wait_for_everyone()
    return folds


def save_cache(cached, path: Path) -> None:
    from datasets import Dataset

    rows = {"video_id": [], "frame": [], "features": [], "pseudo_labels": [], "labels": [], "frame_mask": []}
    for seq in cached:
        for t in range(len(seq["labels"])):
            rows["video_id"].append(seq["video_id"])
            rows["frame"].append(t)
            for key in ("features", "pseudo_labels", "labels", "frame_mask"):
                rows[key].append(seq[key][t])
    Dataset.from_dict(rows).save_to_disk(str(path))


def load_cache(path: Path) -> list[dict]:
    from datasets import load_from_disk

    table = load_from_disk(str(path)).with_format("numpy")
    video_ids = np.asarray(table["video_id"])
    columns = {key: np.asarray(table[key]) for key in ("features", "pseudo_labels", "labels", "frame_mask")}
    cached = []
    for video in dict.fromkeys(video_ids.tolist()):
        rows = np.flatnonzero(video_ids == video)
        cached.append({"video_id": video, **{key: value[rows] for key, value in columns.items()}})
    return cached


def evaluate_sequences(model, cached, task: str, use_backbone_predictions: bool = False) -> dict:
    """Windowed inference over whole sequences; metrics on the valid frames of all sequences concatenated."""
    predictions, references, masks = [], [], []
    for seq in cached:
        if use_backbone_predictions:
            mean = seq["pseudo_labels"]
        else:
            mean, _ = model.predict_sequence(seq["features"].astype(np.float32), seq["pseudo_labels"],
                                             seq["frame_mask"])
        predictions.append(np.clip(mean, *model.config.output_range))
        references.append(seq["labels"])
        masks.append(seq["frame_mask"])
    metrics = ("ccc", "pcc", "mae", "rmse") if task == "va" else ("icc", "mae", "ccc")
    return affect_metrics(np.concatenate(predictions), np.concatenate(references), np.concatenate(masks),
                          model.config.output_names, metrics=metrics)


def main(args):
    accelerator = make_accelerator(args)
    model, processor = build_model(args)
    output_dir = Path(args.output_dir)
    cache_dir = output_dir / "feature_cache"
    stage1_dir = output_dir / "stage1_backbone"
    results = {"dataset": args.dataset_name or args.dataset_format, "task": args.task,
               "temporal_model": model.config.temporal_model}

    # ---- stages 1 + 2 (skipped when their outputs exist: a re-run resumes at stage 3)
    if not (cache_dir / "train").is_dir():
        with accelerator.main_process_first():
            train_sequences, eval_sequences = load_splits(args)
        if model.affective_process.frame_encoder is None:
            raise ValueError("stages 1-2 need a backbone (use_backbone=True)")
        start_model = copy.deepcopy(model) if args.pseudo_label_folds > 1 else None  # each OOF backbone's start
        if stage1_dir.is_dir():
            model = AffectiveProcessForAffectEstimation.from_pretrained(stage1_dir, config=model.config)
        elif args.backbone_steps:
            stage1 = train_backbone(accelerator, args, model, processor, train_sequences)
            results.update(backbone_loss_first=stage1[0], backbone_loss_last=stage1[-1])
            if accelerator.is_main_process:
                model.save_pretrained(stage1_dir)
        model.to(accelerator.device)
        train_cache = None
        if accelerator.is_main_process:
            train_cache = cache_features(model, processor, train_sequences, args.backbone_batch_size)
        if start_model is not None:
            folds = out_of_fold_pseudo_labels(accelerator, args, start_model, processor, train_sequences, train_cache)
            del start_model
            results["pseudo_label_folds"] = args.pseudo_label_folds
        if accelerator.is_main_process:
            if args.pseudo_label_noise > 0:
                rng = np.random.default_rng(args.seed)
                for seq in train_cache:
                    seq["pseudo_labels"] += rng.normal(0, args.pseudo_label_noise, seq["pseudo_labels"].shape)
            save_cache(train_cache, cache_dir / "train")
            if args.pseudo_label_folds > 1:
                (cache_dir / "pseudo_label_folds.json").write_text(json.dumps(folds, indent=1))
            if eval_sequences:
                save_cache(cache_features(model, processor, eval_sequences, args.backbone_batch_size),
                           cache_dir / "eval")
        accelerator.wait_for_everyone()
    elif stage1_dir.is_dir() and args.model_name_or_path is None:
        model = AffectiveProcessForAffectEstimation.from_pretrained(stage1_dir, config=model.config)
    train_cache = load_cache(cache_dir / "train")
    eval_cache = load_cache(cache_dir / "eval") if (cache_dir / "eval").is_dir() else None

    # ---- stage 3: the temporal model on cached features
    if is_stage1_checkpoint(args):
        args = copy.copy(args)
        args.resume_from_checkpoint = None  # that path was stage 1's
    if model.affective_process.frame_encoder is not None:
        model.affective_process.frame_encoder.requires_grad_(False)
    train_loader, _ = make_dataloaders(args, WindowDataset(train_cache, model.config.window_size))
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=args.learning_rate, weight_decay=args.weight_decay)
    training = prepare_training(accelerator, args, model, optimizer, train_loader, project_name="affective_process",
                                processor=processor)
    model, loop = training.model, training.loop

    def evaluate():
        if eval_cache is None:
            return None
        return evaluate_sequences(accelerator.unwrap_model(model), eval_cache, args.task)

    history = loop.run(lambda m, batch: m(**batch).loss, evaluate=evaluate)
    results.update(training_results(history))
    if history["eval"]:
        backbone = evaluate_sequences(accelerator.unwrap_model(model), eval_cache, args.task, True)
        results.update({f"backbone_{k}": v for k, v in backbone.items() if not k.startswith("num_frames")})
    if model.config.use_backbone:
        accelerator.unwrap_model(model).affective_process.frame_encoder.requires_grad_(True)
    finish_training(accelerator, args, model, processor, results)
    return {"history": history, "results": results}


if __name__ == "__main__":
    main(parse_args())
