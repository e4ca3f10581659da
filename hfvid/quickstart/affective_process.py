"""``hfvid quickstart`` recipe of Affective Processes: synthetic face videos, stages 1-3, pipeline CCC."""

import json
import time
from pathlib import Path

from . import QuickstartRow, load_training_script, save_picture

TINY = {"feature_proj_dim": 32, "label_embed_dim": 16, "encoder_hidden_sizes": [32, 32], "latent_hidden_size": 32,
        "latent_dim": 8, "decoder_hidden_sizes": [32, 32], "context_min": 8, "context_max": 32,
        "window_size": 64, "window_stride": 32}


def run(output_dir: Path, steps: int | None = None) -> QuickstartRow:
    """AP on synthetic valence/arousal videos whose appearance carries a hidden per-video offset; metric: mean CCC
    of the `hfvid-affect` pipeline on held-out videos (the frame-wise backbone's CCC beside it)."""
    import numpy as np
    from transformers import pipeline

    from ..data.synthetic_affect import synthetic_affect_videos
    from ..metrics.affect import affect_metrics

    start = time.time()
    out = output_dir / "affective_process"
    script = load_training_script("train_affective_process")
    argv = ["--dataset_name", "synthetic", "--output_dir", str(out), "--cpu", "--config_overrides", json.dumps(TINY),
            "--backbone_steps", "150", "--max_train_steps", str(steps or 300), "--learning_rate", "3e-3",
            "--per_device_train_batch_size", "16", "--synthetic_train_videos", "128", "--synthetic_eval_videos", "16",
            "--lr_scheduler_type", "constant", "--logging_steps", "50"]
    history = script.main(script.parse_args(argv))["history"]

    pipe = pipeline("hfvid-affect", model=str(out), device="cpu")
    predictions, references = [], []
    for video in synthetic_affect_videos(8, 64, "va", image_size=32, seed=20_000):
        records = pipe(list(video["frames"]), face_detector="full_image")  # face-crop videos
        predictions.append([[r["valence"], r["arousal"]] for r in records])
        references.append(video["labels"])
    metrics = affect_metrics(np.concatenate(predictions), np.concatenate(references), names=["valence", "arousal"])
    if not (out / "README.md").is_file():
        raise RuntimeError(f"the training script did not render a model card in {out}")
    backbone = json.loads((out / "all_results.json").read_text()).get("eval_backbone_ccc_mean", float("nan"))
    from ..visualize import plot_affect

    picture = save_picture(out, lambda: plot_affect(records, title="held-out video: predicted valence / arousal"))
    return QuickstartRow("affective_process", history["global_step"], history["first_loss"], history["last_loss"],
                         f"CCC {metrics['ccc_mean']:.3f} (frame-wise backbone {backbone:.3f})", str(out),
                         time.time() - start, picture)
