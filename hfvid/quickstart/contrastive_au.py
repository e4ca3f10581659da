"""``hfvid quickstart`` recipe of Contrastive AU: stage 1 on unlabelled synthetic face videos, stage 2 with 2% random
labels, pipeline ICC on held-out synthetic videos."""

import time
from pathlib import Path

from . import QuickstartRow, load_training_script, save_picture

# ContrastiveAUConfig fields of the small model both CAU scripts build for ``--dataset_name synthetic``.
TINY_SYNTHETIC = {"image_size": 32, "temporal_hidden_size": 32, "embedding_dim": 16, "projection_hidden_size": 32,
                  "backbone_config": {"embedding_size": 8, "hidden_sizes": [16, 32], "depths": [1, 1],
                                      "layer_type": "basic"}}
COMMON = ["--dataset_name", "synthetic", "--cpu", "--learning_rate", "3e-3", "--lr_scheduler_type", "constant",
          "--logging_steps", "50"]


def run(output_dir: Path, steps: int | None = None) -> QuickstartRow:
    """Pre-train (1200 steps by default), fine-tune on 2% labels (200 steps) with and without the pre-training,
    compare both through `hfvid-au-intensity` on held-out videos."""
    import numpy as np
    from transformers import pipeline

    from ..data.synthetic_affect import AU_NAMES, synthetic_affect_videos
    from ..metrics.affect import affect_metrics

    start = time.time()
    root = output_dir / "contrastive_au"
    pretrain = load_training_script("pretrain_contrastive_au")
    pretrain.main(pretrain.parse_args([*COMMON, "--output_dir", str(root / "stage1"), "--per_device_train_batch_size",
                                       "16", "--max_train_steps", str(steps or 1200)]))
    train = load_training_script("train_contrastive_au")
    stage2 = dict(pretrained=root / "stage2", scratch=root / "stage2_from_scratch")
    histories = {}
    for name, out in stage2.items():  # the same 2% labelled frames (seeded), with and without stage 1
        init = str(root / "stage1") if name == "pretrained" else "random"
        argv = [*COMMON, "--output_dir", str(out), "--init", init, "--label_ratio", "0.02",
                "--per_device_train_batch_size", "8", "--max_train_steps", str(max(1, (steps or 1200) // 6))]
        histories[name] = train.main(train.parse_args(argv))["history"]

    videos = synthetic_affect_videos(4, 128, "au", image_size=32, offset_std=0.0, seed=30_000)
    icc = {}
    for name, out in stage2.items():
        pipe = pipeline("hfvid-au-intensity", model=str(out), device="cpu")
        predictions = [[[r[au] for au in AU_NAMES] for r in pipe(list(video["frames"]), face_detector="full_image")] for video in videos]
        icc[name] = affect_metrics(np.concatenate(predictions), np.concatenate([v["labels"] for v in videos]),
                                   names=list(AU_NAMES), metrics=("icc",))["icc_mean"]
    out = stage2["pretrained"]
    if not (out / "README.md").is_file():
        raise RuntimeError(f"the training script did not render a model card in {out}")
    history = histories["pretrained"]
    from ..visualize import plot_affect

    picture = save_picture(out, lambda: plot_affect(
        pipeline("hfvid-au-intensity", model=str(out), device="cpu")(list(videos[0]["frames"]),
                                                                      face_detector="full_image"),
        title="held-out video: AU intensities (2% labels, pre-trained)"))
    return QuickstartRow("contrastive_au", history["global_step"], history["first_loss"], history["last_loss"],
                         f"ICC {icc['pretrained']:.3f} at 2% labels (from scratch {icc['scratch']:.3f})", str(out),
                         time.time() - start, picture)


__all__ = ["run"]
