"""``hfvid quickstart`` recipe of Keypoints-to-Landmarks: self-train on synthetic objects, reload in a pipeline,
measure the forward landmark-regression NME on held-out objects."""

import time
from pathlib import Path

from . import QuickstartRow, load_training_script, save_picture

TINY = ("num_landmarks=5,num_clusters=10,hidden_size=32,stem_channels=16,hourglass_depth=2,image_size=64,"
        "heatmap_size=16,descriptor_dim=32,num_groups=8,min_negative_distance=1.5,detector_nms_radius=1,"
        "max_keypoints=20,min_keypoints=8,pairs_per_sample=200,outlier_neighbors=20,outlier_fraction=0.2,"
        "detector_border=1,decode_method=local_soft_argmax")


def run(output_dir: Path, steps: int | None = None) -> QuickstartRow:
    """Stage 1 (`steps`, default 60, one recovery halfway) then stage 2 (`steps / 2`) on 64 synthetic objects with
    5 parts; metric: forward regression NME (box-normalised) of the pipeline's landmarks, beside the mean shape's."""
    import numpy as np
    from transformers import pipeline

    from ..data.synthetic_objects import synthetic_objects
    from ..metrics.landmark_regression import landmark_regression_nme

    start = time.time()
    out = output_dir / "keypoints_to_landmarks"
    stage1 = steps or 60
    script = load_training_script("train_keypoints_to_landmarks")
    argv = [
        "--dataset_name", "synthetic", "--output_dir", str(out), "--cpu", "--config_overrides", TINY,
        "--stage1_steps", str(stage1), "--stage2_steps", str(max(stage1 // 2, 1)),
        "--warmup_steps", str(max(stage1 // 2, 1)), "--round_steps", str(max(stage1 // 2, 1)),
        "--per_device_train_batch_size", "8", "--per_device_eval_batch_size", "32", "--learning_rate", "1e-3",
        "--optimizer", "adamw", "--lr_scheduler_type", "constant", "--synthetic_train_samples", "64",
        "--synthetic_eval_samples", "32", "--keypoint_initializer", "given", "--clustering_restarts", "3",
        "--cutout_prob", "0.2", "--logging_steps", "20",
    ]
    history = script.main(script.parse_args(argv))["history"]

    pipe = pipeline("hfvid-unsupervised-landmarks", model=str(out), device="cpu")
    train, test = synthetic_objects(64, 64, seed=20_000), synthetic_objects(32, 64, seed=20_001)

    def landmarks(records):
        found = pipe([r["image"] for r in records], boxes=[[r["box"]] for r in records], batch_size=32)
        return np.array([objects[0]["landmarks"] for objects in found])

    references = [np.stack([r["landmarks"] for r in records]) for records in (train, test)]
    nme = landmark_regression_nme(landmarks(test), references[1], landmarks(train), references[0],
                                  normalizer="box")["nme"]
    mean_shape = landmark_regression_nme(np.zeros((32, 1, 2)), references[1], np.zeros((64, 1, 2)), references[0],
                                         normalizer="box")["nme"]
    if not (out / "README.md").is_file():
        raise RuntimeError(f"the training script did not render a model card in {out}")
    from ..visualize import draw_landmarks, side_by_side

    picture = save_picture(out, lambda: side_by_side(
        draw_landmarks(record["image"], found, draw_boxes=False, radius=3, color=(255, 255, 255), scale=2)
        for record, found in zip(test[:4], pipe([r["image"] for r in test[:4]], boxes=[[r["box"]] for r in test[:4]]))))
    return QuickstartRow("keypoints_to_landmarks", history["global_step"], history["first_loss"],
                         history["last_loss"], f"fwd NME(box) {nme:.2f}% (mean shape {mean_shape:.2f}%)", str(out),
                         time.time() - start, picture)


__all__ = ["run"]
