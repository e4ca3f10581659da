#!/usr/bin/env python
"""Stage 2 of MeMSVD/LFB: extract the long-term feature bank (resumable), one shard per video.

    python training_scripts/extract_feature_bank.py --video_dir ava/videos --boxes ava_train_v2.2.csv \
        --backbone <hfvid MViTv2 checkpoint, e.g. converted from torchvision mvit_v2_s> --output_dir bank/train

For every video and every second that has person boxes in `--boxes` (an AVA annotation or results CSV, boxes
normalised to [0, 1]; results rows below `--min_score` are dropped), the frames of the clip around that second are
streamed through the actor encoder and one feature per box is stored under the key `(video_id, second)`, boxes in
the order of `hfvid.data.formats.ava.group_keyframes` (so a bank extracted on ground-truth boxes gives the actor
features `train_memsvd.py` expects). `--eval_boxes ava_val_predicted_boxes.csv --eval_box_threshold 0.8` extracts
the validation bank on a person detector's boxes instead (LFB/PySlowFast layout, boxes scored below the threshold
dropped), for `train_memsvd.py --eval_boxes` with the same file and threshold, as LFB and the paper evaluate. Run the short-term model in test mode (no augmentation), ideally one that did
not overfit these clips.

`--backbone` names a video `AutoBackbone` checkpoint (path or Hub id; hfvid MViTv2): actor features are RoIAligned
on its last feature map (`VideoBackboneActorEncoder`). `--actor_encoder module:factory` names any other callable
returning an encoder `(frames, (K, 4) pixel boxes) -> (K, d)`. With neither, `RoIAlignActorEncoder()` treats the
frames themselves as feature maps (synthetic data only). Each finished video is written to `<output_dir>/shards/<video_id>` and marked done;
a rerun skips finished videos (resume after interruption), then `<output_dir>/bank` is rebuilt from all shards.
"""

import argparse
import logging
import shutil
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video_dir", type=str, required=True, help="Folder of <video_id>.<ext> files.")
    parser.add_argument("--boxes", type=str, default=None, help="AVA CSV with the person boxes per second.")
    parser.add_argument("--eval_boxes", type=str, default=None,
                        help="Instead of --boxes: a detector's person-box CSV (LFB/PySlowFast "
                             "ava_val_predicted_boxes.csv layout), for the bank train_memsvd.py --eval_boxes scores.")
    parser.add_argument("--eval_box_threshold", type=float, default=0.8,
                        help="--eval_boxes: drop boxes scored below this (PySlowFast's AVA test threshold 0.8).")
    parser.add_argument("--output_dir", type=str, required=True)
    parser.add_argument("--backbone", type=str, default=None, help="Video AutoBackbone checkpoint (hfvid MViTv2).")
    parser.add_argument("--actor_encoder", type=str, default=None, help="module:factory of the actor encoder.")
    parser.add_argument("--video_ext", type=str, default="mp4")
    parser.add_argument("--clip_duration", type=float, default=1.0, help="Seconds of video around each second.")
    parser.add_argument("--fps", type=float, default=None, help="Decode at this rate (default: every frame).")
    parser.add_argument("--time_offset", type=float, default=0.0,
                        help="Subtract from CSV timestamps to get video time (e.g. 900 for 15-minute AVA cuts).")
    parser.add_argument("--min_score", type=float, default=0.0, help="Results CSV: drop boxes scored below this.")
    args = parser.parse_args(argv)
    if args.backbone and args.actor_encoder:
        raise ValueError("give --backbone or --actor_encoder, not both")
    if (args.boxes is None) == (args.eval_boxes is None):
        raise ValueError(f"give exactly one of --boxes (annotation/results CSV) or --eval_boxes (detector person-box "
                         f"CSV), got --boxes={args.boxes!r} --eval_boxes={args.eval_boxes!r}")
    if not 0.0 <= args.eval_box_threshold <= 1.0:
        raise ValueError(f"--eval_box_threshold must be a score in [0, 1], got {args.eval_box_threshold}")
    return args


def boxes_per_second(path, min_score: float) -> dict[str, dict[int, np.ndarray]]:
    """``{video_id: {second: (P, 4) normalised boxes}}`` from an AVA annotation or results CSV."""
    from hfvid.data.formats.ava import group_keyframes, read_ava_csv

    with open(path, encoding="utf-8") as handle:
        first = handle.readline().split(",")
    scored = len(first) == 8 and "." in first[-1]
    rows = read_ava_csv(path, "detections" if scored else "annotations")
    if scored:
        rows = [dict(r, person_id=-1) for r in rows if r.pop("score") >= min_score]
    per_video = {}
    for frame in group_keyframes([dict(r, action_id=1) for r in rows], num_classes=1):
        per_video.setdefault(frame["video_id"], {})[frame["timestamp"]] = frame["boxes"]
    return per_video


def detected_boxes_per_second(path, threshold: float) -> dict[str, dict[int, np.ndarray]]:
    """``{video_id: {second: (P, 4) normalised boxes}}`` of a detector's person-box CSV, in the order
    `train_memsvd.py --eval_boxes` reads them (``hfvid.data.formats.ava.read_ava_person_boxes``)."""
    from hfvid.data.formats.ava import read_ava_person_boxes

    per_video = {}
    for (video_id, second), found in read_ava_person_boxes(path, threshold).items():
        per_video.setdefault(video_id, {})[second] = found["boxes"]
    return per_video


def load_encoder(args):
    from hfvid.models.memsvd import RoIAlignActorEncoder, VideoBackboneActorEncoder

    if args.backbone:
        return VideoBackboneActorEncoder.from_pretrained(args.backbone)
    if args.actor_encoder is None:
        return RoIAlignActorEncoder()
    from hfvid.registration import load_object

    return load_object(args.actor_encoder)()


def extract_video(path, seconds: dict[int, np.ndarray], encoder, args) -> dict:
    """``{(video_id, second): (P, d)}`` for one video, streamed clip by clip."""
    from hfvid.data.video import keyframe_clips

    video_id = Path(path).stem
    bank = {}
    for key, clip, pixels in keyframe_clips(path, seconds, args.fps, args.clip_duration, args.time_offset):
        features = np.asarray(encoder(clip, pixels), np.float32)
        if features.shape[0] != len(pixels):
            raise ValueError(f"the actor encoder returned {features.shape[0]} features for {len(pixels)} boxes")
        bank[(video_id, key)] = features
    for key in sorted(set(seconds) - {second for _, second in bank}):
        logger.warning(f"{video_id}: no frames around second {key}; skipped")
    return bank


def main(args):
    import datasets

    from hfvid.models.memsvd import feature_bank_dataset

    output = Path(args.output_dir)
    shards = output / "shards"
    shards.mkdir(parents=True, exist_ok=True)
    encoder = load_encoder(args)
    done, extracted = [], []
    per_video = (boxes_per_second(args.boxes, args.min_score) if args.boxes
                 else detected_boxes_per_second(args.eval_boxes, args.eval_box_threshold))
    for video_id, seconds in sorted(per_video.items()):
        shard = shards / video_id
        if (shard / "DONE").is_file():
            done.append(video_id)
            continue
        path = Path(args.video_dir) / f"{video_id}.{args.video_ext}"
        if not path.is_file():
            logger.warning(f"{path} not found; {video_id} skipped")
            continue
        bank = extract_video(path, seconds, encoder, args)
        if not bank:
            continue
        partial = shards / f"{video_id}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        feature_bank_dataset(bank).save_to_disk(str(partial))
        shutil.rmtree(shard, ignore_errors=True)
        partial.rename(shard)
        (shard / "DONE").write_text("ok\n")
        extracted.append(video_id)
        logger.info(f"{video_id}: {len(bank)} seconds")
    parts = [datasets.load_from_disk(str(p)) for p in sorted(shards.iterdir()) if (p / "DONE").is_file()]
    if not parts:
        raise ValueError("no video produced any feature; check --video_dir, --video_ext and --boxes")
    bank_dir = output / "bank"
    shutil.rmtree(bank_dir, ignore_errors=True)
    datasets.concatenate_datasets(parts).save_to_disk(str(bank_dir))
    return {"extracted": extracted, "skipped_done": done, "bank": str(bank_dir)}


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main(parse_args())
