"""CPU learning check (spec 7 item 10, issue "Must show"): self-training on synthetic objects with K distinctive
parts yields landmarks whose forward-regression error is clearly below that of the initial generic keypoints."""

import numpy as np
import torch

from hfvid.clustering import assign_unique, kmeans
from hfvid.data.synthetic_objects import synthetic_objects
from hfvid.metrics.landmark_regression import landmark_regression_nme
from hfvid.models.keypoints_to_landmarks.keypoint_initialization import patch_descriptors
from hfvid.modules.images import image_to_tensor
from hfvid.quickstart import load_training_script

K = 5
TINY = ("num_landmarks=5,num_clusters=10,hidden_size=32,stem_channels=16,hourglass_depth=2,image_size=64,"
        "heatmap_size=16,descriptor_dim=32,num_groups=8,min_negative_distance=1.5,detector_nms_radius=1,"
        "max_keypoints=20,min_keypoints=8,pairs_per_sample=200,outlier_neighbors=20,outlier_fraction=0.2,"
        "detector_border=1,decode_method=local_soft_argmax")


def learning_argv(output_dir, stage1_steps, stage2_steps, round_steps, samples):
    return [
        "--dataset_name", "synthetic", "--output_dir", str(output_dir), "--cpu", "--config_overrides", TINY,
        "--stage1_steps", str(stage1_steps), "--stage2_steps", str(stage2_steps), "--warmup_steps", str(round_steps),
        "--round_steps", str(round_steps), "--per_device_train_batch_size", "8", "--per_device_eval_batch_size", "32",
        "--learning_rate", "1e-3", "--optimizer", "adamw", "--lr_scheduler_type", "constant",
        "--synthetic_train_samples", str(samples), "--synthetic_eval_samples", "64", "--keypoint_initializer", "given",
        "--clustering_restarts", "3", "--cutout_prob", "0.2", "--logging_steps", "50",
    ]


def generic_keypoint_baselines(train, test) -> dict:
    """Forward NME (%) of the initial generic keypoints: (a) in detector order (first K), (b) given identities by
    k-means on their own patch descriptors (closest point per cluster, NaN when missing)."""
    def first_k(records):
        return np.stack([r["keypoints"][:K] for r in records])

    records = train + test
    descriptors = [patch_descriptors(image_to_tensor(r["image"]), torch.as_tensor(r["keypoints"])) for r in records]
    image_ids = np.concatenate([np.full(len(d), i) for i, d in enumerate(descriptors)])
    flat = torch.cat(descriptors)
    centroids, _ = kmeans(flat, K, seed=0, n_init=3)
    labels, _ = assign_unique(image_ids, flat, centroids)
    points = np.concatenate([r["keypoints"] for r in records])
    clustered = np.full((len(records), K, 2), np.nan, np.float32)
    clustered[image_ids[labels >= 0], labels[labels >= 0]] = points[labels >= 0]

    y_train, y_test = np.stack([r["landmarks"] for r in train]), np.stack([r["landmarks"] for r in test])
    ordered = landmark_regression_nme(first_k(test), y_test, first_k(train), y_train, normalizer="box")["nme"]
    by_cluster = landmark_regression_nme(clustered[len(train):], y_test, clustered[: len(train)], y_train,
                                         normalizer="box")["nme"]
    return {"detector_order": ordered, "descriptor_clusters": by_cluster}


def run_learning(tmp_path, stage1_steps=300, stage2_steps=200, round_steps=100, samples=128):
    script = load_training_script("train_keypoints_to_landmarks")
    out = script.main(script.parse_args(learning_argv(tmp_path / "run", stage1_steps, stage2_steps, round_steps,
                                                      samples)))
    train = synthetic_objects(samples, 64, 5, 5, seed=42)
    test = synthetic_objects(64, 64, 5, 5, seed=43)
    return out, generic_keypoint_baselines(train, test)


def test_self_training_beats_the_initial_generic_keypoints(tmp_path):
    out, baselines = run_learning(tmp_path)
    results, stage1 = out["results"], out["stage1_history"]
    stage1_forward = stage1["eval"][-1][1]["stage1_forward_nme"]
    print("results", results, "stage 1", stage1["eval"], "baselines", baselines)
    losses = [loss for _, loss in stage1["losses"]]
    assert np.mean(losses[-20:]) < np.mean(losses[:20])  # stage-1 loss falls
    assert results["train_loss_last"] < results["train_loss_first"]
    assert results["forward_nme"] < results["mean_shape_nme"]
    # measured (2 cores, ~25 s idle): stage 1 7.5 %, stage 2 2.9 %, generic keypoints 16.8 % (detector order),
    # mean shape 17.2 %, the generic keypoints clustered by their own colour patches 7.4 %. Before the stage-2 head
    # started near zero (landmark_head_init_std) stage 2 lost accuracy (12.4 % vs 8.3 %): 200 steps went into
    # shrinking Kaiming-sized initial heatmaps.
    assert stage1_forward < 0.6 * baselines["detector_order"]
    assert results["forward_nme"] <= stage1_forward + 0.5  # stage 2 keeps (here: improves) stage 1's accuracy
    assert results["forward_nme"] < min(0.5 * baselines["detector_order"], baselines["descriptor_clusters"])
