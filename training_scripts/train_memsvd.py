#!/usr/bin/env python
"""Train MeMSVD (or its attention / no-memory baselines) on precomputed actor features + a long-term feature bank.

    accelerate launch training_scripts/train_memsvd.py --dataset_name synthetic --output_dir out/memsvd
    accelerate launch training_scripts/train_memsvd.py --memory nonlocal --dataset_name synthetic --output_dir out/nl
    accelerate launch training_scripts/train_memsvd.py --train_dir bank/train --annotations ava_train_v2.2.csv \
        --validation_dir bank/val --validation_annotations ava_val_v2.2.csv \
        --excluded_timestamps ava_val_excluded_timestamps_v2.2.csv --label_map ava_action_list_v2.2.pbtxt ...
    accelerate launch training_scripts/train_memsvd.py ... --validation_dir bank/val_detected \
        --eval_boxes ava_val_predicted_boxes.csv --eval_box_threshold 0.8   # AVA test on detector boxes, as LFB
    accelerate launch training_scripts/train_memsvd.py --dataset_format charades --train_dir bank/train \
        --annotations Charades_v1_train.csv --validation_dir bank/test --validation_annotations Charades_v1_test.csv \
        --label_map Charades_v1_classes.txt --output_dir out/memsvd_charades ...

This is stage 3 of the LFB/MeMSVD recipe. Stages 1-2 (a short-term model and the feature bank it extracts, see
`training_scripts/extract_feature_bank.py`) give, per `(video_id, second)`, the RoI features of that second's
actors. For AVA the bank must hold, at every annotated keyframe, one feature per ground-truth box in the order of
`hfvid.data.formats.ava.group_keyframes` (extract it on the GT boxes): those are the actor features; the window
of +-w seconds around the keyframe is the memory. `--dataset_name synthetic` is the spec's ambiguous-query task
(a query that fits two classes + a memory that says which), which only a model with memory can solve.

`--dataset_format charades` trains `MeMSVDForVideoClassification` (multi-label BCE, 157 classes) on the Charades
CSVs: the bank holds one clip feature per `(video_id, second)` (extract it with a full-frame box `0,0,1,1` at each
sampled second). Every clip of a training video is a sample with the video's labels; its memory is the processor's
window around it (the default 60 s covers a typical 30 s Charades video whole). At evaluation `--clips_per_video`
clips spread over each test video are scored, their sigmoid scores averaged (or maxed), and the video scores give
the Charades mAP (per-class non-interpolated AP, mean over classes with positives); the scores are also written
as the official submission file `charades_submission.txt` in `--output_dir`.

`--train_actor_encoder` fine-tunes the short-term model with the head (the paper's stage 3, see
`model_cards/memsvd.md`): the model must hold an actor encoder (MViTv2 + RoIAlign, `config.actor_encoder_config`),
from `--model_name_or_path`, `--actor_encoder_backbone` (a pretrained hfvid MViTv2 checkpoint) or
`--actor_encoder_config_overrides` (a new one). Every sample then carries its keyframe clip and boxes, encoded by
the model in the training step, while the long-term memory still comes from the precomputed bank (extracted by the
short-term model before fine-tuning). AVA clips are decoded from `--video_dir` with `extract_feature_bank.py`'s
clip reader (`--clip_duration`, `--fps`, `--time_offset`); `--dataset_name synthetic` renders moving-actor clips
(`hfvid.data.synthetic_actors`, 4 multi-label actions) with a bank extracted by the initial encoder. The encoder's
parameters learn at `--actor_encoder_learning_rate` (default 0.1 x `--learning_rate`, our choice).

    accelerate launch training_scripts/train_memsvd.py --train_actor_encoder --actor_encoder_backbone mvitv2_s_k400 \
        --video_dir ava/videos --time_offset 900 --train_dir bank/train --annotations ava_train_v2.2.csv \
        --validation_dir bank/val --validation_annotations ava_val_v2.2.csv --output_dir out/memsvd_e2e ...
"""

import numpy as np
import torch
from accelerate.logging import get_logger

from hfvid.data.synthetic_memory import synthetic_memory_task
from hfvid.metrics.detection import ava_frame_map, charades_map
from hfvid.models.memsvd import (
    MeMSVDConfig,
    MeMSVDFeatureBankProcessor,
    MeMSVDForActionDetection,
    MeMSVDForVideoClassification,
)
from hfvid.training import (evaluate_predictions, finish_training, make_accelerator, make_dataloaders, make_parser,
                            parse_config_overrides, prepare_training, training_results, validate_args)

logger = get_logger(__name__, log_level="INFO")


def parse_args(argv=None):
    parser = make_parser(__doc__)
    group = parser.add_argument_group("MeMSVD")
    group.add_argument("--memory", choices=["memsvd", "nonlocal", "none"], default=None,
                       help="Long-term operator: MeMSVD, the LFB non-local attention baseline, or none.")
    group.add_argument("--model_name_or_path", type=str, default=None, help="Start from an hfvid MeMSVD checkpoint.")
    group.add_argument("--config_overrides", type=str, default=None,
                       help='MeMSVDConfig fields for a new model, e.g. "feature_dim=768,num_components=8".')
    group.add_argument("--dataset_format", choices=["ava", "charades"], default="ava",
                       help="Format of --annotations/--validation_annotations: AVA keyframe CSVs (action detection) "
                            "or Charades_v1_{train,test}.csv (multi-label video classification, mAP).")
    group.add_argument("--excluded_timestamps", type=str, default=None, help="AVA excluded keyframes (evaluation).")
    group.add_argument("--eval_boxes", type=str, default=None,
                       help="AVA evaluation on a person detector's boxes (LFB/PySlowFast ava_val_predicted_boxes.csv "
                            "layout) instead of the ground-truth boxes; --validation_dir must be a bank extracted on "
                            "the same file (extract_feature_bank.py --eval_boxes, same threshold).")
    group.add_argument("--eval_box_threshold", type=float, default=0.8,
                       help="--eval_boxes: drop boxes scored below this (PySlowFast's AVA test threshold 0.8; "
                            "mmaction2's LFB uses 0.85).")
    group.add_argument("--label_map", type=str, default=None,
                       help="Names of the classes: AVA .pbtxt label map, or Charades_v1_classes.txt.")
    group.add_argument("--clips_per_video", type=int, default=10,
                       help="Charades evaluation: clips spread over each test video whose scores are aggregated.")
    group.add_argument("--clip_aggregation", choices=["mean", "max"], default="mean",
                       help="Charades evaluation: how the clips' sigmoid scores make the video's score.")
    group.add_argument("--train_actor_encoder", action="store_true",
                       help="Fine-tune the model's actor encoder (short-term model) on clips + boxes; the memory "
                            "still comes from the feature bank.")
    group.add_argument("--actor_encoder_learning_rate", type=float, default=None,
                       help="Learning rate of the actor encoder (default: 0.1 x --learning_rate, ours).")
    group.add_argument("--actor_encoder_backbone", type=str, default=None,
                       help="New model: a pretrained hfvid MViTv2 checkpoint as its actor encoder (sets feature_dim).")
    group.add_argument("--actor_encoder_config_overrides", type=str, default=None,
                       help='New model: a randomly initialised MViTv2 actor encoder of these MViTv2Config fields, '
                            'e.g. "image_size=[32,32],num_frames=4,...".')
    group.add_argument("--video_dir", type=str, default=None,
                       help="--train_actor_encoder on AVA: folder of <video_id>.<--video_ext> files.")
    group.add_argument("--video_ext", type=str, default="mp4")
    group.add_argument("--clip_duration", type=float, default=1.0, help="Seconds of video around each keyframe.")
    group.add_argument("--fps", type=float, default=None, help="Decode clips at this rate (default: every frame).")
    group.add_argument("--time_offset", type=float, default=0.0,
                       help="Subtract from CSV timestamps to get video time (900 for 15-minute AVA cuts).")
    group.add_argument("--synthetic_train_samples", type=int, default=2048)
    group.add_argument("--synthetic_eval_samples", type=int, default=512)
    group.add_argument("--synthetic_num_classes", type=int, default=8)
    group.add_argument("--synthetic_feature_dim", type=int, default=32)
    group.add_argument("--synthetic_memory_size", type=int, default=40)
    args = parser.parse_args(argv)
    if args.dataset_name is None and args.train_dir and not args.annotations:
        raise ValueError("--train_dir (a saved feature bank) needs --annotations (the AVA CSV of its keyframes)")
    if args.dataset_format == "charades" and args.dataset_name == "synthetic":
        raise ValueError("--dataset_format charades reads --train_dir/--annotations; it does not apply to "
                         "--dataset_name synthetic")
    if args.eval_boxes and (args.dataset_format != "ava" or args.dataset_name == "synthetic"):
        raise ValueError("--eval_boxes (detected person boxes) applies to AVA evaluation only "
                         "(--validation_dir + --validation_annotations, --dataset_format ava)")
    if not 0.0 <= args.eval_box_threshold <= 1.0:
        raise ValueError(f"--eval_box_threshold must be a score in [0, 1], got {args.eval_box_threshold}")
    if args.clips_per_video < 1:
        raise ValueError(f"--clips_per_video must be >= 1, got {args.clips_per_video}")
    check_actor_encoder_args(args)
    return validate_args(args, dataset_names=("synthetic",))


def check_actor_encoder_args(args):
    """Combinations of the short-term-model flags that cannot work fail here, before any data is read."""
    if args.actor_encoder_backbone and args.actor_encoder_config_overrides:
        raise ValueError("give --actor_encoder_backbone (pretrained) or --actor_encoder_config_overrides (new), "
                         "not both")
    if args.model_name_or_path and (args.actor_encoder_backbone or args.actor_encoder_config_overrides):
        raise ValueError("--actor_encoder_backbone/--actor_encoder_config_overrides build a new model; with "
                         f"--model_name_or_path={args.model_name_or_path!r} the checkpoint's own encoder is used")
    if not args.train_actor_encoder:
        for name in ("actor_encoder_learning_rate", "video_dir"):
            if getattr(args, name) is not None:
                raise ValueError(f"--{name}={getattr(args, name)!r} applies to --train_actor_encoder only")
        return
    if args.actor_encoder_learning_rate is not None and args.actor_encoder_learning_rate < 0:
        raise ValueError(f"--actor_encoder_learning_rate must be >= 0, got {args.actor_encoder_learning_rate}")
    if args.dataset_format == "charades":
        raise ValueError("--train_actor_encoder reads keyframe clips + person boxes (AVA or synthetic); it does not "
                         "apply to --dataset_format charades")
    if args.eval_boxes:
        raise ValueError("--train_actor_encoder evaluates on ground-truth boxes; for detector boxes, extract a bank "
                         "with the fine-tuned model's encoder and run the default path with --eval_boxes")
    if args.dataset_name != "synthetic" and not args.video_dir:
        raise ValueError("--train_actor_encoder on AVA needs --video_dir (the videos whose keyframe clips are encoded)")


class KeyframeDataset(torch.utils.data.Dataset):
    """One item per keyframe: its actors' features (or, with `load_clip`, its clip + boxes, decoded here) and
    labels and its (padded) memory window."""

    def __init__(self, items: list[dict]):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        item = {"keyframe": index, **self.items[index]}  # detected-box items carry their GT keyframe
        load_clip = item.pop("load_clip", None)
        if load_clip is not None:
            item["pixel_values"], item["rois"] = load_clip()
        return item


def collate(items: list[dict]) -> dict:
    """Concatenate actors (with their keyframe's batch index) and stack the memories (and clips)."""
    counts = [len(item["labels"]) for item in items]
    batch = {
        "memory_features": torch.stack([torch.as_tensor(item["memory_features"]) for item in items]),
        "memory_mask": torch.stack([torch.as_tensor(item["memory_mask"]) for item in items]),
        "labels": torch.cat([torch.as_tensor(item["labels"]) for item in items]),
        "actor_id": torch.cat([torch.arange(c) + 10_000 * item["keyframe"] for c, item in zip(counts, items)]),
    }
    if "pixel_values" in items[0]:  # boxes: [batch index, x1, y1, x2, y2] in the clip's input pixels
        batch["pixel_values"] = torch.cat([item["pixel_values"] for item in items])
        batch["boxes"] = torch.cat([torch.cat([torch.full((len(item["rois"]), 1), float(i)), item["rois"][:, 1:]], 1)
                                    for i, item in enumerate(items)])
    else:
        batch["actor_features"] = torch.cat([torch.as_tensor(item["actor_features"]) for item in items])
        batch["actor_batch_index"] = torch.repeat_interleave(torch.arange(len(items)), torch.tensor(counts))
    return batch


def synthetic_items(args, split: str) -> list[dict]:
    train = split == "train"
    task = synthetic_memory_task(
        args.synthetic_train_samples if train else args.synthetic_eval_samples,
        num_classes=args.synthetic_num_classes, feature_dim=args.synthetic_feature_dim,
        memory_size=args.synthetic_memory_size, seed=args.seed + (0 if train else 1),
    )
    limit = args.max_train_samples if train else args.max_eval_samples
    count = min(limit or len(task["label"]), len(task["label"]))
    return [
        {"actor_features": task["query"][i : i + 1], "memory_features": task["memory"][i],
         "memory_mask": np.ones(args.synthetic_memory_size, bool), "labels": task["label"][i : i + 1]}
        for i in range(count)
    ]


def synthetic_clip_items(args, split: str, processor, clip_encoder) -> list[dict]:
    """Moving-actor clips (`hfvid.data.synthetic_actors`, 4 multi-label actions) as a video of one keyframe per
    second; the bank of their actors is extracted by the initial encoder (stage 2), the window around each second
    is its memory."""
    from hfvid.data.synthetic_actors import synthetic_actor_clips
    from hfvid.models.memsvd import MeMSVDFeatureBank, feature_bank_dataset

    train = split == "train"
    count = args.synthetic_train_samples if train else args.synthetic_eval_samples
    limit = args.max_train_samples if train else args.max_eval_samples
    size = clip_encoder.encoder.backbone.config.image_size
    clips = synthetic_actor_clips(min(limit or count, count), seed=args.seed + (0 if train else 1),
                                  num_frames=clip_encoder.encoder.backbone.config.num_frames, image_size=size[0])
    prepared = [clip_encoder.prepare(clip["frames"], clip["boxes"] * size[0]) for clip in clips]
    video_id = f"synthetic-{split}"
    bank = MeMSVDFeatureBank(feature_bank_dataset(
        {(video_id, second): clip_encoder.encode(pixel_values, rois).numpy()
         for second, (pixel_values, rois) in enumerate(prepared)}))
    items = []
    for second, (clip, (pixel_values, rois)) in enumerate(zip(clips, prepared)):
        memory = processor(bank, [(video_id, second)], training=train)
        items.append({"load_clip": lambda p=pixel_values, r=rois: (p, r), "labels": clip["action_labels"],
                      "memory_features": memory["memory_features"][0], "memory_mask": memory["memory_mask"][0]})
    return items


class KeyframeClipLoader:
    """Decodes one AVA keyframe's clip from `--video_dir` (`hfvid.data.video.keyframe_clips`, as
    `extract_feature_bank.py` reads them) and prepares it as the actor encoder's input:
    ``() -> (pixel_values (1, T, 3, H, W), rois (K, 5))``."""

    def __init__(self, args, clip_encoder, video_id: str, second: int, boxes: np.ndarray):
        self.args, self.clip_encoder, self.video_id, self.second, self.boxes = args, clip_encoder, video_id, second, boxes

    def __call__(self):
        from contextlib import closing
        from pathlib import Path

        from hfvid.data.video import keyframe_clips

        path = Path(self.args.video_dir) / f"{self.video_id}.{self.args.video_ext}"
        if not path.is_file():
            raise FileNotFoundError(f"--video_dir: {path} not found (keyframe {self.video_id},{self.second})")
        clips = keyframe_clips(path, {self.second: self.boxes}, self.args.fps, self.args.clip_duration,
                               self.args.time_offset)
        with closing(clips):
            found = next(clips, None)
        if found is None:
            raise ValueError(f"--video_dir: {path} has no frames around second {self.second} "
                             f"(--time_offset={self.args.time_offset}, --clip_duration={self.args.clip_duration})")
        _, clip, pixel_boxes = found
        return self.clip_encoder.prepare(clip, pixel_boxes)


def ava_items(args, split: str, processor, num_classes: int,
              clip_encoder=None) -> tuple[list[dict], list[dict]] | tuple[None, None]:
    """AVA keyframes of the split with actor features and memory windows from the saved feature bank; with a
    `clip_encoder` (`--train_actor_encoder`) the actor features are replaced by the keyframe's clip + boxes."""
    import datasets

    from hfvid.data.formats.ava import group_keyframes, read_ava_csv
    from hfvid.models.memsvd import MeMSVDFeatureBank

    train = split == "train"
    folder, annotations = (args.train_dir, args.annotations) if train else (args.validation_dir,
                                                                          args.validation_annotations)
    if not folder or not annotations:
        return None, None
    rows = read_ava_csv(annotations, "annotations")
    keyframes = group_keyframes(rows, num_classes)
    limit = args.max_train_samples if train else args.max_eval_samples
    keyframes = keyframes[:limit] if limit else keyframes
    bank = MeMSVDFeatureBank(datasets.load_from_disk(folder))
    if not train and args.eval_boxes:
        return detected_items(args, keyframes, bank, processor, num_classes), keyframes
    if clip_encoder is not None:  # fail before training, not at the first batch that reads a missing video
        from pathlib import Path

        missing = sorted({f["video_id"] for f in keyframes
                          if not (Path(args.video_dir) / f"{f['video_id']}.{args.video_ext}").is_file()})
        if missing:
            raise FileNotFoundError(f"--video_dir={args.video_dir!r}: {len(missing)} videos of {annotations} not "
                                    f"found (e.g. {missing[:3]}; expected <video_id>.{args.video_ext} files)")
    items = []
    for frame in keyframes:
        actors = bank.get(frame["video_id"], frame["timestamp"])
        if actors is None or len(actors) != len(frame["boxes"]):
            raise ValueError(f"the feature bank at ({frame['video_id']}, {frame['timestamp']}) must hold one feature "
                             f"per ground-truth box ({len(frame['boxes'])}), got "
                             f"{0 if actors is None else len(actors)}")
        memory = processor(bank, [(frame["video_id"], frame["timestamp"])], training=train)
        items.append({"actor_features": actors, "memory_features": memory["memory_features"][0],
                      "memory_mask": memory["memory_mask"][0], "labels": frame["labels"]})
        if clip_encoder is not None:
            del items[-1]["actor_features"]  # boxes stay normalised: the reader scales them to the frames
            items[-1]["load_clip"] = KeyframeClipLoader(args, clip_encoder, frame["video_id"], frame["timestamp"],
                                                        frame["boxes"])
    return items, (keyframes if not train else None)


def detected_items(args, keyframes: list[dict], bank, processor, num_classes: int) -> list[dict]:
    """Evaluation items on detected person boxes: for every ground-truth keyframe, its `--eval_boxes` boxes scored
    at least `--eval_box_threshold` with their bank features (one per box, in the reader's order). A keyframe
    without detections gives no item (its ground truth then only counts as missed). The detected boxes are kept in
    `keyframe["detected_boxes"]` for scoring."""
    from hfvid.data.formats.ava import read_ava_person_boxes

    detected = read_ava_person_boxes(args.eval_boxes, args.eval_box_threshold)
    items = []
    for index, frame in enumerate(keyframes):
        key = (frame["video_id"], frame["timestamp"])
        boxes = detected.get(key, {"boxes": np.zeros((0, 4), np.float32)})["boxes"]
        frame["detected_boxes"] = boxes
        if not len(boxes):
            continue
        actors = bank.get(*key)
        if actors is None or len(actors) != len(boxes):
            raise ValueError(f"--validation_dir: the feature bank at {key} must hold one feature per detected box of "
                             f"--eval_boxes above --eval_box_threshold={args.eval_box_threshold} ({len(boxes)}), got "
                             f"{0 if actors is None else len(actors)}; extract it with extract_feature_bank.py "
                             f"--eval_boxes {args.eval_boxes} --eval_box_threshold {args.eval_box_threshold}")
        memory = processor(bank, [key], training=False)
        items.append({"actor_features": actors, "memory_features": memory["memory_features"][0],
                      "memory_mask": memory["memory_mask"][0], "keyframe": index,
                      "labels": np.zeros((len(boxes), num_classes), np.float32)})  # scored by IoU with the GT
    return items


def charades_items(args, split: str, processor, num_classes: int) -> tuple[list[dict], dict] | tuple[None, None]:
    """Charades clips of the split (one clip feature each) with their memory windows; eval also returns the videos."""
    import datasets

    from hfvid.data.formats.charades import charades_clips, read_charades_csv
    from hfvid.models.memsvd import MeMSVDFeatureBank

    train = split == "train"
    folder, annotations = (args.train_dir, args.annotations) if train else (args.validation_dir,
                                                                          args.validation_annotations)
    if not folder or not annotations:
        return None, None
    records = read_charades_csv(annotations, num_classes)
    limit = args.max_train_samples if train else args.max_eval_samples
    records = records[:limit] if limit else records
    dataset = datasets.load_from_disk(folder)
    bank = MeMSVDFeatureBank(dataset)
    clips, missing = charades_clips(records, zip(dataset["video_id"], dataset["second"]),
                                    None if train else args.clips_per_video)
    if not clips:
        raise ValueError(f"the feature bank {folder} holds no clip of the videos in {annotations}")
    if missing:
        logger.warning(f"{len(missing)} of {len(records)} videos of {annotations} have no feature in {folder} "
                       f"(e.g. {missing[:3]}); they are left out", main_process_only=True)
    items = []
    for clip in clips:
        feature = bank.get(clip["video_id"], clip["second"])
        if len(feature) != 1:
            raise ValueError(f"a Charades bank holds one clip feature per (video_id, second); ({clip['video_id']}, "
                             f"{clip['second']}) in {folder} has {len(feature)} (extract it with one full-frame box)")
        memory = processor(bank, [(clip["video_id"], clip["second"])], training=train)
        items.append({"actor_features": feature, "memory_features": memory["memory_features"][0],
                      "memory_mask": memory["memory_mask"][0], "labels": clip["labels"][None]})
    videos = {"clip_video": np.array([clip["video_index"] for clip in clips]),
              "ids": [r["id"] for r in records], "labels": np.stack([r["labels"] for r in records])}
    return items, (None if train else videos)


def build_model(args):
    charades = args.dataset_format == "charades"
    model_class = MeMSVDForVideoClassification if charades else MeMSVDForActionDetection
    backbone = None
    if args.model_name_or_path:
        model = model_class.from_pretrained(args.model_name_or_path)
    else:
        overrides = parse_config_overrides(args.config_overrides)
        if args.actor_encoder_backbone or args.actor_encoder_config_overrides:
            from hfvid.models.memsvd import load_backbone
            from hfvid.models.mvitv2 import MViTv2Config

            if args.actor_encoder_backbone:
                backbone = load_backbone(args.actor_encoder_backbone)
                encoder_config = backbone.config
            else:
                encoder_config = MViTv2Config(**parse_config_overrides(args.actor_encoder_config_overrides))
            overrides["actor_encoder_config"] = encoder_config.to_dict()
            overrides.setdefault("feature_dim", encoder_config.hidden_size)
            if args.dataset_name == "synthetic" and args.train_actor_encoder:  # the moving-actor clips' 4 actions
                from hfvid.data.synthetic_actors import ACTION_NAMES

                overrides = {"problem_type": "multi_label_classification", "id2label": dict(enumerate(ACTION_NAMES)),
                             "num_components": 1, "max_rank": 8, "latent_dim": 32, "memory_dropout": 0.0,
                             "classifier_dropout": 0.0, "max_features_per_second": 5, "memory_window_seconds": 8,
                             **overrides}
        if charades:
            from hfvid.data.formats.charades import NUM_CHARADES_CLASSES

            overrides.setdefault("num_labels", NUM_CHARADES_CLASSES)
        if args.dataset_name == "synthetic" and not args.train_actor_encoder:
            overrides = {"feature_dim": args.synthetic_feature_dim, "num_labels": args.synthetic_num_classes,
                         "problem_type": "single_label_classification", "num_components": 1, "max_rank": 8,
                         "latent_dim": 32, "memory_dropout": 0.0, "classifier_dropout": 0.0,
                         "max_features_per_second": 5, "memory_window_seconds": 8, **overrides}
        if args.label_map and charades:
            from hfvid.data.formats.charades import read_charades_classes

            names = read_charades_classes(args.label_map)
            overrides["id2label"] = {i: names.get(i, f"c{i:03d}") for i in range(overrides["num_labels"])}
        elif args.label_map:
            from hfvid.data.formats.ava import read_ava_label_map

            names = read_ava_label_map(args.label_map)
            num_labels = overrides.get("num_labels", 80)
            overrides["id2label"] = {i: names.get(i + 1, f"action_{i + 1}") for i in range(num_labels)}
        if args.memory:
            overrides["memory_type"] = args.memory
        model = model_class(MeMSVDConfig(**overrides))
        if backbone is not None:
            model.memsvd.actor_encoder.backbone.load_state_dict(backbone.state_dict())
    encoder = getattr(model, "memsvd", model).actor_encoder
    if args.train_actor_encoder and encoder is None:
        raise ValueError("--train_actor_encoder: the model has no actor encoder (config.actor_encoder_config is "
                         "None); give --actor_encoder_backbone <MViTv2 checkpoint> or --actor_encoder_config_overrides "
                         "for a new model, or a --model_name_or_path checkpoint that has one")
    if encoder is not None and not args.train_actor_encoder:
        encoder.requires_grad_(False)  # the default path trains on bank features; the encoder is kept as it is
    if args.memory and model.config.memory_type != args.memory:
        raise ValueError(f"--memory {args.memory} differs from the checkpoint's memory_type "
                         f"{model.config.memory_type!r}")
    processor = MeMSVDFeatureBankProcessor.from_model_config(model.config, seed=args.seed)
    return model, processor


def parameter_groups(args, model) -> list[dict]:
    """Trainable parameters; the actor encoder's in their own group at `--actor_encoder_learning_rate`."""
    encoder = getattr(model, "memsvd", model).actor_encoder
    encoder_ids = {id(p) for p in encoder.parameters()} if encoder is not None else set()
    head = [p for p in model.parameters() if p.requires_grad and id(p) not in encoder_ids]
    groups = [{"params": head}]
    if args.train_actor_encoder:
        rate = args.actor_encoder_learning_rate
        groups.append({"params": list(encoder.parameters()),
                       "lr": 0.1 * args.learning_rate if rate is None else rate})
    return groups


def main(args):
    accelerator = make_accelerator(args)
    model, processor = build_model(args)
    config = model.config
    charades = isinstance(model, MeMSVDForVideoClassification)
    eval_videos = None
    clip_encoder = None
    if args.train_actor_encoder:  # the clips' preprocessing = the pipeline's (the model's own encoder)
        from hfvid.models.memsvd import VideoBackboneActorEncoder

        video_processor = None
        if args.actor_encoder_backbone or args.model_name_or_path:
            from hfvid.models.memsvd.actor_encoder_memsvd import _video_processor

            video_processor = _video_processor(args.actor_encoder_backbone or args.model_name_or_path)
        clip_encoder = VideoBackboneActorEncoder.from_model(model, video_processor)
    with accelerator.main_process_first():
        if args.dataset_name == "synthetic" and clip_encoder is not None:
            train_items, eval_items = (synthetic_clip_items(args, split, processor, clip_encoder)
                                       for split in ("train", "eval"))
            eval_keyframes = None
        elif args.dataset_name == "synthetic":
            train_items, eval_items, eval_keyframes = synthetic_items(args, "train"), synthetic_items(args, "eval"), None
        elif charades:
            train_items, _ = charades_items(args, "train", processor, config.num_labels)
            eval_items, eval_videos = charades_items(args, "eval", processor, config.num_labels)
            eval_keyframes = None
        else:
            train_items, _ = ava_items(args, "train", processor, config.num_labels, clip_encoder)
            eval_items, eval_keyframes = ava_items(args, "eval", processor, config.num_labels, clip_encoder)
    train_loader, eval_loader = make_dataloaders(
        args, KeyframeDataset(train_items), KeyframeDataset(eval_items) if eval_items else None, collate_fn=collate
    )
    optimizer = torch.optim.AdamW(parameter_groups(args, model), lr=args.learning_rate,
                                  weight_decay=args.weight_decay)
    training = prepare_training(accelerator, args, model, optimizer, train_loader, eval_loader,
                                project_name="memsvd", processor=processor)
    model, eval_loader = training.model, training.eval_dataloader

    def forward(m, batch):
        inputs = {k: v for k, v in batch.items() if k != "actor_id"}
        if charades:  # one clip per sample: the clip feature replaces the actors
            inputs["clip_features"] = inputs.pop("actor_features")
            inputs.pop("actor_batch_index")
        return m(**inputs)

    def evaluate():
        if eval_loader is None:
            return None
        logits, labels, actor_ids = evaluate_predictions(
            accelerator, model, eval_loader,
            lambda m, batch: (forward(m, {**batch, "labels": None}).logits, batch["labels"], batch["actor_id"]),
        )
        if config.problem_type == "single_label_classification":
            one_hot = np.eye(config.num_labels)[labels]
            probabilities = torch.from_numpy(logits).softmax(-1).numpy()
            return {"accuracy": float((logits.argmax(-1) == labels).mean()),
                    "mAP": charades_map(probabilities, one_hot)["mAP"]}
        scores = torch.from_numpy(logits).sigmoid().numpy()
        if eval_videos is not None:
            return charades_evaluation(scores, actor_ids)
        if eval_keyframes is None:
            return {"mAP": charades_map(scores[:, config.eval_label_ids], labels[:, config.eval_label_ids])["mAP"]}
        from hfvid.data.formats.ava import read_excluded_timestamps

        groundtruth, detections = [], []
        detected = bool(args.eval_boxes)  # scored boxes are the detector's; the ground truth comes from the CSV
        if detected:
            for frame in eval_keyframes:
                for box, label_row in zip(frame["boxes"], frame["labels"]):
                    key = {"video_id": frame["video_id"], "timestamp": frame["timestamp"],
                           "box": tuple(float(v) for v in box)}
                    groundtruth += [{**key, "action_id": c + 1} for c in np.flatnonzero(label_row > 0.5)]
        for score_row, label_row, actor_id in zip(scores, labels, actor_ids):
            frame = eval_keyframes[int(actor_id) // 10_000]
            boxes = frame["detected_boxes"] if detected else frame["boxes"]
            box = tuple(float(v) for v in boxes[int(actor_id) % 10_000])
            key = {"video_id": frame["video_id"], "timestamp": frame["timestamp"], "box": box}
            if not detected:
                groundtruth += [{**key, "action_id": c + 1} for c in np.flatnonzero(label_row > 0.5)]
            detections += [{**key, "action_id": c + 1, "score": float(score_row[c])} for c in config.eval_label_ids]
        excluded = read_excluded_timestamps(args.excluded_timestamps) if args.excluded_timestamps else None
        result = ava_frame_map(groundtruth, detections, [c + 1 for c in config.eval_label_ids], excluded)
        return {"frame_mAP": result["mAP"]}

    def charades_evaluation(clip_scores, actor_ids):
        """Aggregate clip scores per video, score the Charades mAP, write the submission file (main process)."""
        clip_video = eval_videos["clip_video"][np.asarray(actor_ids) // 10_000]
        videos = np.unique(clip_video)
        reduce = np.max if args.clip_aggregation == "max" else np.mean
        scores = np.stack([reduce(clip_scores[clip_video == v], axis=0) for v in videos])
        if accelerator.is_main_process:
            from pathlib import Path

            from hfvid.data.formats.charades import write_charades_submission

            Path(args.output_dir).mkdir(parents=True, exist_ok=True)
            write_charades_submission(Path(args.output_dir) / "charades_submission.txt",
                                      [eval_videos["ids"][v] for v in videos], scores)
        labels = eval_videos["labels"][videos]
        return {"mAP": charades_map(scores[:, config.eval_label_ids], labels[:, config.eval_label_ids])["mAP"],
                "num_videos": int(len(videos))}

    history = training.loop.run(lambda m, batch: forward(m, batch).loss, evaluate=evaluate)
    results = training_results(history, memory_type=config.memory_type, dataset_format=args.dataset_format,
                               dataset=args.dataset_name or args.annotations or args.train_dir,
                               train_actor_encoder=args.train_actor_encoder)
    finish_training(accelerator, args, model, processor, results)
    if clip_encoder is not None and accelerator.is_main_process:  # the pipeline reads the clips as training did
        clip_encoder.video_processor.save_pretrained(args.output_dir)
    return {"history": history, "results": results}


if __name__ == "__main__":
    main(parse_args())
