"""``hfvid quickstart`` recipe of BMViT: train on moving-actor clips, reload in a pipeline, measure frame-mAP@0.5."""

import json
import time
from pathlib import Path

from . import QuickstartRow, load_training_script, save_picture

# A 3-block MViTv2 on 4 x 32 x 32 clips: a 2 x 4 x 4 token grid, so 16 prediction tokens with temporal_mean.
TINY_BACKBONE = {
    "image_size": [32, 32], "num_frames": 4, "embed_dim": 32, "num_heads": [1, 2, 2], "output_channels": [32, 64, 64],
    "stride_q": [[1, 1, 1], [1, 2, 2], [1, 1, 1]], "stride_kv": [[1, 4, 4], [1, 2, 2], [1, 1, 1]],
    "stochastic_depth_prob": 0.0,
}
SYNTHETIC_FPS = 8.0  # the training script's synthetic default (frame_stride 1, base_fps 8)


def run(output_dir: Path, steps: int | None = None) -> QuickstartRow:
    """BMViT on synthetic moving squares; metric: frame-mAP@0.5 (4 actions) of the pipeline on held-out clips."""
    from transformers import pipeline

    from ..data.synthetic_actors import ACTION_NAMES, synthetic_actor_clips
    from ..metrics.detection import ava_frame_map

    start = time.time()

    out = output_dir / "bmvit"
    script = load_training_script("train_bmvit")
    argv = [
        "--dataset_name", "synthetic", "--output_dir", str(out), "--cpu",
        "--backbone_config", json.dumps(TINY_BACKBONE), "--config_overrides", "box_reference=grid",
        "--max_train_steps", str(steps or 300), "--per_device_train_batch_size", "16", "--learning_rate", "2e-3",
        "--weight_decay", "1e-4", "--lr_scheduler_type", "constant",
        "--synthetic_train_samples", "512", "--synthetic_eval_samples", "64", "--logging_steps", "50",
    ]
    history = script.main(script.parse_args(argv))["history"]

    pipe = pipeline("hfvid-video-action-localization", model=str(out), device="cpu")
    clips = synthetic_actor_clips(64, seed=10_000)
    detections, truth = [], []
    names = {name: i + 1 for i, name in enumerate(ACTION_NAMES)}
    for index, clip in enumerate(clips):
        keyframe = clip["keyframe_index"] / SYNTHETIC_FPS
        result = pipe(clip["frames"], keyframe_timestamps=[keyframe], fps=SYNTHETIC_FPS, person_threshold=0.0,
                      top_k=8, top_k_actions=len(ACTION_NAMES))[0]
        size = clip["frames"].shape[1]
        for found in result["detections"]:
            box = tuple(found["box"][k] / size for k in ("xmin", "ymin", "xmax", "ymax"))
            detections += [dict(video_id="q", timestamp=index, box=box, action_id=names[label["label"]],
                                score=label["score"]) for label in found["labels"]]
        for box, actions in zip(clip["boxes"], clip["action_labels"]):
            truth += [dict(video_id="q", timestamp=index, box=tuple(box), action_id=int(a) + 1)
                      for a in actions.nonzero()[0]]
    frame_map = ava_frame_map(truth, detections)["mAP"]
    if not (out / "README.md").is_file():
        raise RuntimeError(f"the training script did not render a model card in {out}")
    from ..visualize import draw_boxes

    best = sorted(result["detections"], key=lambda found: -found["score"])[:len(clip["boxes"])]  # as many as actors
    picture = save_picture(out, lambda: draw_boxes(clip["frames"][clip["keyframe_index"]], best, scale=6))
    return QuickstartRow("bmvit", history["global_step"], history["first_loss"], history["last_loss"],
                         f"frame-mAP@0.5 {frame_map:.3f}", str(out), time.time() - start, picture)
