#!/usr/bin/env python
"""Train BMViT (single-stage action localisation by bipartite matching on video transformer tokens) with Accelerate.

    accelerate launch training_scripts/train_bmvit.py --dataset_name synthetic --output_dir out/bmvit \
        --backbone_config '{"image_size": [32, 32], "num_frames": 4, "embed_dim": 32, "num_heads": [1, 2, 2],
        "output_channels": [32, 64, 64], "stride_q": [[1,1,1],[1,2,2],[1,1,1]], "stride_kv": [[1,4,4],[1,2,2],[1,1,1]]}'
    accelerate launch training_scripts/train_bmvit.py --train_dir ava/videos --annotations ava_train_v2.2.csv \
        --validation_dir ava/videos --validation_annotations ava_val_v2.2.csv \
        --excluded_timestamps ava_val_excluded_timestamps_v2.2.csv \
        --label_map ava_action_list_v2.2.pbtxt --model_name_or_path <hfvid MViTv2-S K400 or BMViT checkpoint>

Data: `--dataset_name synthetic` (moving coloured squares with exact boxes and 4 actions, offline) or AVA v2.2:
annotation CSVs plus a folder of videos named `<video_id>.<ext>`; each keyframe's clip is decoded from its
timestamp window only (PyAV seek). `--excluded_timestamps` (train and val files) drops those keyframes from training
and evaluation; `--time_offset 900` for videos cut to the annotated 15 minutes. Evaluation: AVA frame-mAP@0.5 (60
classes, top 50 rows per keyframe) and the class-agnostic person AP@0.5.

`--dataset_format ucf101_24|jhmdb`: `--annotations` is UCF101-24's finalAnnots.mat (with `--test_list
testlist01.txt`) or the JHMDB root (puppet_mask/, splits/; `--split`), `--train_dir` the frame folders
(`<class>/<video>/00001.jpg`). Every `--frame_step`-th annotated frame is a sample; evaluation reports frame-mAP@0.5
(no per-frame cap) and video-mAP@0.2/0.5 of tubes linked greedily by score and IoU (`link_tubes`; our linker, the
paper's is not known).

Training augmentation (off at evaluation): flip (`--flip_prob`, spec default 0.5), colour jitter (`--colour_jitter`,
the spec's "mild": 0.1 brightness/contrast/saturation is ours), scale jitter (`--scale_jitter 1.0 1.25` zooms in by
up to 25%; off by default, as the spec has no crops by default).
"""

import json
from pathlib import Path

import numpy as np
import torch

from hfvid.metrics.detection import ava_frame_map
from hfvid.models.bmvit import BMViTConfig, BMViTForActionLocalization, BMViTVideoProcessor
from hfvid.training import (evaluate_predictions, finish_training, make_accelerator, make_dataloaders, make_parser,
                            parse_config_overrides, prepare_training, training_results, validate_args)


def parse_args(argv=None):
    parser = make_parser(__doc__)
    group = parser.add_argument_group("BMViT")
    group.add_argument("--model_name_or_path", type=str, default=None,
                       help="A BMViT checkpoint, or an hfvid MViTv2 checkpoint to initialise the backbone from.")
    group.add_argument("--backbone_config", type=str, default=None,
                       help="JSON (or a .json file) of backbone config fields for a new model (default: MViTv2-S).")
    group.add_argument("--config_overrides", type=str, default=None,
                       help='BMViT config fields, e.g. "token_pooling=none,box_reference=grid".')
    group.add_argument("--backbone_learning_rate", type=float, default=None,
                       help="Learning rate of the backbone (default: --learning_rate).")
    group.add_argument("--detection_warmup_steps", type=int, default=0,
                       help="First steps train the actor and box losses only (no action loss).")
    group.add_argument("--frame_stride", type=int, default=None, help="Clip frame spacing (default 4; synthetic 1).")
    group.add_argument("--base_fps", type=float, default=None, help="Rate frame_stride counts in (default 30).")
    group.add_argument("--label_map", type=str, default=None, help="AVA .pbtxt label map (action names).")
    group.add_argument("--excluded_timestamps", type=str, nargs="+", default=None,
                       help="AVA excluded-keyframe CSVs (train and val): dropped from training and evaluation.")
    group.add_argument("--time_offset", type=float, default=0.0,
                       help="AVA: movie second at which the video files start (900 for the 15-minute cuts).")
    group.add_argument("--dataset_format", choices=("ava", "ucf101_24", "jhmdb"), default="ava")
    group.add_argument("--test_list", type=str, default=None, help="UCF101-24: testlist01.txt (split 1 test videos).")
    group.add_argument("--split", type=int, default=1, help="JHMDB split (1..3).")
    group.add_argument("--frame_step", type=int, default=1, help="UCF101-24/JHMDB: use every n-th annotated frame.")
    group.add_argument("--frames_fps", type=float, default=None, help="Frame-folder rate (UCF101-24 25, JHMDB 30).")
    group.add_argument("--flip_prob", type=float, default=0.5, help="Training flip probability (spec: 0.5).")
    group.add_argument("--colour_jitter", type=float, default=0.1,
                       help="Training brightness/contrast/saturation jitter (spec: 'mild'; 0.1 is ours).")
    group.add_argument("--scale_jitter", type=float, nargs=2, default=(1.0, 1.0),
                       help="Training zoom-in range of the short side, then crop (ours; 1 1 = off).")
    group.add_argument("--eval_person_threshold", type=float, default=0.0)
    group.add_argument("--person_boxes", type=str, default=None,
                       help="Two-stage baseline (--config_overrides localization=two_stage): AVA person-box CSV of the "
                            "evaluation keyframes (default: their ground-truth boxes).")
    group.add_argument("--person_box_threshold", type=float, default=0.8,
                       help="Detector score below which --person_boxes rows are dropped (PySlowFast: 0.8).")
    group.add_argument("--synthetic_train_samples", type=int, default=512)
    group.add_argument("--synthetic_eval_samples", type=int, default=64)
    args = parser.parse_args(argv)
    if args.frame_step < 1:
        raise ValueError(f"--frame_step must be >= 1, got {args.frame_step}")
    if args.detection_warmup_steps < 0:
        raise ValueError(f"--detection_warmup_steps must be >= 0, got {args.detection_warmup_steps}")
    return validate_args(args, dataset_names=("synthetic",))


def _load_json(text: str | None) -> dict:
    if not text:
        return {}
    return json.loads(Path(text).read_text() if text.endswith(".json") else text)


def build_model(args, num_action_labels: int, id2label: dict):
    """A new BMViT from flags, a BMViT checkpoint, or a new BMViT whose backbone loads an MViTv2 checkpoint."""
    from transformers import AutoConfig

    synthetic = args.dataset_name == "synthetic"
    if args.model_name_or_path and AutoConfig.from_pretrained(args.model_name_or_path).model_type == "hfvid-bmvit":
        model = BMViTForActionLocalization.from_pretrained(args.model_name_or_path)
        return model, BMViTVideoProcessor.from_pretrained(args.model_name_or_path)
    backbone = _load_json(args.backbone_config)
    if args.model_name_or_path:  # a backbone checkpoint, e.g. MViTv2-S converted from torchvision (K400)
        backbone = {**AutoConfig.from_pretrained(args.model_name_or_path).to_dict(), **backbone}
    config = BMViTConfig(backbone_config=backbone or None, num_action_labels=num_action_labels, id2label=id2label,
                         **parse_config_overrides(args.config_overrides))
    model = BMViTForActionLocalization(config)
    if args.model_name_or_path:
        from transformers import AutoModel

        source = AutoModel.from_pretrained(args.model_name_or_path)
        state = {k.removeprefix(f"{source.base_model_prefix}."): v for k, v in source.state_dict().items()
                 if not k.startswith("classifier.")}
        model.bmvit.backbone.load_state_dict(state, strict=True)
    height, width = config.image_size
    processor = BMViTVideoProcessor(
        size={"height": height, "width": width}, num_frames=config.num_frames, num_action_labels=num_action_labels,
        frame_stride=args.frame_stride or (1 if synthetic else 4), base_fps=args.base_fps or (8.0 if synthetic else 30.0),
    )
    return model, processor


class SyntheticActorDataset(torch.utils.data.Dataset):
    """Moving-actor clips, processed once: items `{"pixel_values", "labels", "index"}`."""

    def __init__(self, count: int, seed: int, processor, image_size: int):
        from hfvid.data.synthetic_actors import synthetic_actor_clips

        self.clips = synthetic_actor_clips(count, seed=seed, num_frames=processor.num_frames, image_size=image_size)
        batch = processor([c["frames"] for c in self.clips],
                          annotations=[{"boxes": c["boxes"], "action_labels": c["action_labels"]} for c in self.clips])
        self.pixel_values, self.labels = batch["pixel_values"], batch["labels"]
        self.records = [{"video_id": "synthetic", "timestamp": i, "boxes": c["boxes"], "labels": c["action_labels"]}
                        for i, c in enumerate(self.clips)]

    def __len__(self):
        return len(self.clips)

    def __getitem__(self, index):
        return {"pixel_values": self.pixel_values[index], "labels": self.labels[index], "index": index}


def augmented(augment, clip, record):
    """The clip and its annotation for the processor, augmented (training) when `augment` is given."""
    if augment is None:
        return clip, {"boxes": record["boxes"], "action_labels": record["labels"]}
    clip, boxes, kept = augment(clip, record["boxes"])
    return clip, {"boxes": boxes, "action_labels": np.asarray(record["labels"])[kept]}


class AVAKeyframeClips(torch.utils.data.Dataset):
    """AVA keyframes: the clip around each `(video_id, timestamp)`, decoded from its time window only."""

    def __init__(self, annotations, video_dir, processor, num_classes: int, limit: int | None = None, excluded=None,
                 time_offset: float = 0.0, augment=None):
        from hfvid.data.formats.ava import drop_excluded, group_keyframes, read_ava_csv

        self.records = drop_excluded(group_keyframes(read_ava_csv(annotations), num_classes), excluded)[:limit]
        self.video_dir, self.processor = Path(video_dir), processor
        self.time_offset, self.augment = time_offset, augment
        self._paths = {}

    def __len__(self):
        return len(self.records)

    def _path(self, video_id: str) -> Path:
        if video_id not in self._paths:
            found = sorted(self.video_dir.glob(f"{video_id}.*"))
            if not found:
                raise ValueError(f"no video file {video_id}.* in {self.video_dir}")
            self._paths[video_id] = found[0]
        return self._paths[video_id]

    def __getitem__(self, index):
        from hfvid.data.formats.ava import video_time
        from hfvid.data.video import iter_frames

        record = self.records[index]
        before, after = self.processor.clip_span
        time = video_time(record["timestamp"], self.time_offset)
        frames = list(iter_frames(self._path(record["video_id"]), start=max(0.0, time - before - 0.1),
                                  end=time + after + 0.1))
        if not frames:
            raise ValueError(f"no frames around {record['video_id']} at {time} s")
        clip = self.processor.sample_clip([f.timestamp for f in frames], [f.image for f in frames], time)
        clip, annotation = augmented(self.augment, clip, record)
        batch = self.processor(clip, annotations=annotation)
        return {"pixel_values": batch["pixel_values"][0], "labels": batch["labels"][0], "index": index}


class TubeFrameClips(torch.utils.data.Dataset):
    """UCF101-24/JHMDB annotated frames (`timestamp` = 1-based frame): the clip around each, read from the frame
    folder `<frames_dir>/<video_id>/` (files numbered from 1)."""

    def __init__(self, videos, frames_dir, processor, num_classes: int, fps: float, frame_step: int = 1,
                 limit: int | None = None, augment=None):
        from hfvid.data.formats.action_tubes import tubes_to_keyframes

        self.videos, self.frames_dir, self.processor = videos, Path(frames_dir), processor
        self.records = tubes_to_keyframes(videos, num_classes, frame_step)[:limit]
        self.fps, self.augment = fps, augment
        self._files = {}

    def __len__(self):
        return len(self.records)

    def __getitem__(self, index):
        from PIL import Image

        from hfvid.data.frame_folders import read_frame_folder

        record = self.records[index]
        if record["video_id"] not in self._files:
            files = {n + 1: path for n, path in read_frame_folder(self.frames_dir / record["video_id"]).items()}
            if not files:
                raise ValueError(f"no frame images in {self.frames_dir / record['video_id']}")
            self._files[record["video_id"]] = files
        files = self._files[record["video_id"]]
        numbers = np.array(sorted(files))
        wanted = self.processor.clip_timestamps(record["timestamp"] / self.fps) * self.fps
        nearest = numbers[np.abs(numbers[None, :] - wanted[:, None]).argmin(axis=1)]
        clip = np.stack([np.asarray(Image.open(files[n]).convert("RGB")) for n in nearest])
        clip, annotation = augmented(self.augment, clip, record)
        batch = self.processor(clip, annotations=annotation)
        return {"pixel_values": batch["pixel_values"][0], "labels": batch["labels"][0], "index": index}


def collate(items):
    """Stack clips; keep the per-clip target dicts as a list (people counts differ)."""
    return {"pixel_values": torch.stack([item["pixel_values"] for item in items]),
            "labels": [item["labels"] for item in items],
            "index": torch.tensor([item["index"] for item in items])}


def load_datasets(args, processor, num_classes: int, image_size: int):
    if args.dataset_name == "synthetic":
        train = SyntheticActorDataset(args.synthetic_train_samples, args.seed, processor, image_size)
        evaluation = SyntheticActorDataset(args.synthetic_eval_samples, args.seed + 1, processor, image_size)
        return train, evaluation
    from hfvid.data.video_augmentation import ClipBoxAugmentation

    jitter = args.colour_jitter
    augment = ClipBoxAugmentation(flip_prob=args.flip_prob, scale_range=tuple(args.scale_jitter), brightness=jitter,
                                  contrast=jitter, saturation=jitter)
    if args.dataset_format != "ava":
        return load_tube_datasets(args, processor, num_classes, augment)
    if not args.annotations:
        raise ValueError("AVA training needs --annotations (ava_train_v2.2.csv) with --train_dir (videos)")
    excluded = read_excluded(args)
    train = AVAKeyframeClips(args.annotations, args.train_dir, processor, num_classes, args.max_train_samples,
                             excluded, args.time_offset, augment)
    evaluation = None
    if args.validation_annotations:
        evaluation = AVAKeyframeClips(args.validation_annotations, args.validation_dir or args.train_dir, processor,
                                      num_classes, args.max_eval_samples, excluded, args.time_offset)
    return train, evaluation


def read_excluded(args) -> set:
    """The union of the `--excluded_timestamps` files: `{(video_id, timestamp)}`."""
    from hfvid.data.formats.ava import read_excluded_timestamps

    return set().union(*(read_excluded_timestamps(path) for path in args.excluded_timestamps or ()))


def load_tube_datasets(args, processor, num_classes: int, augment):
    """UCF101-24 (split 1) or JHMDB-21 (`--split`) train/test frames from `--annotations` and `--train_dir`."""
    if not args.annotations or not args.train_dir:
        raise ValueError(f"--dataset_format {args.dataset_format} needs --annotations and --train_dir (frames)")
    if args.dataset_format == "ucf101_24":
        from hfvid.data.formats.ucf101_24 import read_ucf101_24

        if not args.test_list:
            raise ValueError("--dataset_format ucf101_24 needs --test_list (testlist01.txt)")
        videos = {subset: read_ucf101_24(args.annotations, args.test_list, subset) for subset in ("train", "test")}
    else:
        from hfvid.data.formats.jhmdb import read_jhmdb

        videos = {subset: read_jhmdb(args.annotations, args.split, subset) for subset in ("train", "test")}
    fps = args.frames_fps or (25.0 if args.dataset_format == "ucf101_24" else 30.0)
    train = TubeFrameClips(videos["train"], args.train_dir, processor, num_classes, fps, args.frame_step,
                           args.max_train_samples, augment)
    evaluation = TubeFrameClips(videos["test"], args.validation_dir or args.train_dir, processor, num_classes, fps,
                                args.frame_step, args.max_eval_samples)
    return train, evaluation


def frame_map_results(records, logits, boxes, actions, indices, processor, config, threshold, excluded=None,
                      videos=None, frame_step: int = 1):
    """AVA frame-mAP@0.5 over `eval_label_ids` and the class-agnostic person AP@0.5 of gathered predictions; with the
    tube `videos` (UCF101-24/JHMDB) no 50-per-frame cap, plus video-mAP@0.2/0.5 of linked tubes."""
    outputs = {"logits": torch.as_tensor(logits), "pred_boxes": torch.as_tensor(boxes),
               "action_logits": torch.as_tensor(actions)}
    results = processor.post_process_action_localization(outputs, person_threshold=threshold, top_k=config.top_k_eval)
    detections, people, truth, truth_people = [], [], [], []
    for result, index in zip(results, indices.tolist()):
        record = records[index]
        key = dict(video_id=record["video_id"], timestamp=int(record["timestamp"]))
        detections += processor.to_ava_rows(result, key["video_id"], key["timestamp"], config.eval_label_ids)
        people += [dict(key, box=tuple(b), action_id=1, score=float(s))
                   for b, s in zip(result["boxes"].tolist(), result["scores"].tolist())]
        for box, labels in zip(np.asarray(record["boxes"]).tolist(), np.asarray(record["labels"])):
            truth_people.append(dict(key, box=tuple(box), action_id=1))
            truth += [dict(key, box=tuple(box), action_id=int(c) + 1) for c in np.nonzero(labels)[0]]
    cap = 50 if videos is None else None
    actions_map = ava_frame_map(truth, detections, class_whitelist=config.eval_label_ids, excluded_keys=excluded,
                                max_detections_per_keyframe=cap)
    person_map = ava_frame_map(truth_people, people, excluded_keys=excluded, max_detections_per_keyframe=None)
    results = {"frame_mAP": actions_map["mAP"], "person_AP": person_map["mAP"]}
    if videos is not None:
        from hfvid.data.formats.action_tubes import tubes_to_groundtruth
        from hfvid.metrics.detection import link_tubes, video_map

        seen = {records[i]["video_id"] for i in indices.tolist()}  # videos only partly evaluated count whole
        tubes, _ = tubes_to_groundtruth([v for v in videos if v["video_id"] in seen])
        linked = link_tubes(detections, max_gap=frame_step)
        results.update({f"video_mAP_{round(t * 100)}": video_map(tubes, linked, t)["mAP"] for t in (0.2, 0.5)})
    return results


def two_stage_boxes(batch, records, detected, top_k: int) -> dict:
    """`person_boxes`/`person_scores` of an evaluation batch for the two-stage baseline, padded to `top_k` per clip
    (score 0) so batches concatenate: the detector's best `top_k` (`detected`, from `--person_boxes`) or the ground
    truth's boxes."""
    from hfvid.models.bmvit.loss_bmvit import cxcywh_to_xyxy

    clips = []
    for target, index in zip(batch["labels"], batch["index"].tolist()):
        if detected is None:
            boxes = cxcywh_to_xyxy(target["boxes"].float().cpu()).clamp(0, 1).numpy()
            if len(boxes) > top_k:
                raise ValueError(f"evaluation sample {index} has {len(boxes)} people, more than top_k_eval={top_k}")
        else:
            record = records[index]
            found = detected.get((record["video_id"], int(record["timestamp"])))
            if found is None:
                boxes = np.zeros((0, 5), np.float32)
            else:
                order = np.argsort(-found["scores"], kind="stable")[:top_k]
                boxes = np.concatenate([found["boxes"][order], found["scores"][order, None]], axis=1)
        clips.append(boxes)
    boxes, scores = BMViTVideoProcessor.person_box_inputs(clips)
    pad = top_k - boxes.shape[1]
    return {"person_boxes": torch.nn.functional.pad(boxes, (0, 0, 0, pad)),
            "person_scores": torch.nn.functional.pad(scores, (0, pad))}


def main(args):
    accelerator = make_accelerator(args)
    if args.dataset_name == "synthetic":
        from hfvid.data.synthetic_actors import ACTION_NAMES

        id2label = dict(enumerate(ACTION_NAMES))
    elif args.dataset_format != "ava":
        from hfvid.data.formats.jhmdb import JHMDB_CLASSES
        from hfvid.data.formats.ucf101_24 import UCF101_24_CLASSES

        id2label = dict(enumerate(UCF101_24_CLASSES if args.dataset_format == "ucf101_24" else JHMDB_CLASSES))
    elif args.label_map:
        from hfvid.data.formats.ava import read_ava_label_map

        names = read_ava_label_map(args.label_map)
        id2label = {i: names.get(i + 1, f"action_{i + 1}") for i in range(max(max(names), 80))}
    else:
        id2label = {i: f"action_{i + 1}" for i in range(80)}
    model, processor = build_model(args, len(id2label), id2label)
    config = model.config

    with accelerator.main_process_first():
        train_set, eval_set = load_datasets(args, processor, config.num_action_labels, config.image_size[0])
    train_loader, eval_loader = make_dataloaders(args, train_set, eval_set, collate_fn=collate)
    backbone_params = list(model.bmvit.parameters())
    backbone_ids = {id(p) for p in backbone_params}
    groups = [{"params": backbone_params, "lr": args.backbone_learning_rate or args.learning_rate},
              {"params": [p for p in model.parameters() if id(p) not in backbone_ids]}]
    optimizer = torch.optim.AdamW(groups, lr=args.learning_rate, weight_decay=args.weight_decay)
    training = prepare_training(accelerator, args, model, optimizer, train_loader, eval_loader,
                                project_name="bmvit", processor=processor)
    model, eval_loader, loop = training.model, training.eval_dataloader, training.loop
    excluded = read_excluded(args)
    two_stage = config.localization == "two_stage"  # the baseline: trained on ground-truth boxes, tested on given ones
    detected = None
    if args.person_boxes and not two_stage:
        raise ValueError(f"--person_boxes {args.person_boxes}: only the two-stage baseline takes boxes "
                         "(--config_overrides localization=two_stage); BMViT finds the people itself")
    if two_stage and args.person_boxes:
        from hfvid.data.formats.ava import read_ava_person_boxes

        detected = read_ava_person_boxes(args.person_boxes, args.person_box_threshold)

    def compute_loss(m, batch):
        output = m(pixel_values=batch["pixel_values"], labels=batch["labels"])
        if loop.global_step < args.detection_warmup_steps and not two_stage:  # detection warm-up: actor + box only
            return output.loss - config.action_loss_coefficient * output.loss_dict["loss_action"]
        return output.loss

    def evaluate():
        if eval_loader is None:
            return None

        def predict(m, batch):
            given = two_stage_boxes(batch, eval_set.records, detected, config.top_k_eval) if two_stage else {}
            out = m(pixel_values=batch["pixel_values"], **given)
            return out.logits, out.pred_boxes, out.action_logits, batch["index"]

        logits, boxes, actions, indices = evaluate_predictions(accelerator, model, eval_loader, predict)
        if not accelerator.is_main_process:
            return None
        threshold = max(args.eval_person_threshold, 1e-3) if two_stage else args.eval_person_threshold  # drop padding
        return frame_map_results(eval_set.records, logits, boxes, actions, torch.as_tensor(indices), processor,
                                 config, threshold, excluded, getattr(eval_set, "videos", None), args.frame_step)

    history = loop.run(compute_loss, evaluate=evaluate)
    results = training_results(history, dataset=args.dataset_name or args.annotations or args.train_dir)
    finish_training(accelerator, args, model, processor, results)
    return {"history": history, "results": results}


if __name__ == "__main__":
    main(parse_args())
