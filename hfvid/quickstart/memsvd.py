"""``hfvid quickstart`` recipe of MeMSVD: train on the synthetic memory task, stream videos through the pipeline,
score the keyframe detections with the AVA frame-mAP@0.5."""

import time
from pathlib import Path

from . import QuickstartRow, load_training_script, save_picture


def run(output_dir: Path, steps: int | None = None) -> QuickstartRow:
    """MeMSVD (n_c = 1) on the ambiguous-query task; metric: frame-mAP of the streaming pipeline on held-out videos."""
    from transformers import pipeline

    from ..data.synthetic_memory import synthetic_memory_task, synthetic_memory_video
    from ..metrics.detection import ava_frame_map

    start = time.time()
    out = output_dir / "memsvd"
    script = load_training_script("train_memsvd")
    argv = [
        "--dataset_name", "synthetic", "--output_dir", str(out), "--cpu", "--memory", "memsvd",
        "--max_train_steps", str(steps or 300), "--per_device_train_batch_size", "64", "--learning_rate", "3e-3",
        "--logging_steps", "50",
    ]
    history = script.main(script.parse_args(argv))["history"]

    pipe = pipeline("hfvid-long-term-action-detection", model=str(out), device="cpu")
    label2id = pipe.model.config.label2id
    task = synthetic_memory_task(32, seed=10_000)
    groundtruth, detections = [], []
    for i in range(len(task["label"])):
        video = synthetic_memory_video(task["memory"][i], task["query"][i])
        (keyframe,) = pipe(iter(video["frames"]), boxes=video["boxes"], keyframes=[video["keyframe"]], top_k=8)
        for actor in keyframe["detections"]:
            box = tuple(actor["box"][k] for k in ("xmin", "ymin", "xmax", "ymax"))
            key = {"video_id": f"synthetic_{i}", "timestamp": int(keyframe["timestamp"]), "box": box}
            groundtruth.append({**key, "action_id": int(task["label"][i]) + 1})
            detections += [{**key, "action_id": label2id[l["label"]] + 1, "score": l["score"]} for l in actor["labels"]]
    frame_map = ava_frame_map(groundtruth, detections)["mAP"]
    if not (out / "README.md").is_file():
        raise RuntimeError(f"the training script did not render a model card in {out}")
    import numpy as np

    from ..visualize import draw_boxes

    def keyframe_picture():
        _, maps = min(video["frames"], key=lambda item: abs(item[0] - keyframe["timestamp"]))
        norm = np.linalg.norm(maps, axis=-1)
        return draw_boxes(0.2 + 0.8 * norm / max(float(norm.max()), 1e-8), keyframe, scale=12)  # maps are 6 x 26

    picture = save_picture(out, keyframe_picture)
    return QuickstartRow("memsvd", history["global_step"], history["first_loss"], history["last_loss"],
                         f"frame-mAP@0.5 {frame_map:.3f}", str(out), time.time() - start, picture)


__all__ = ["run"]
