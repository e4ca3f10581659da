"""``hfvid quickstart`` recipe of BPL: prompt-learn on a tiny random CLIP, reload in a pipeline, measure accuracy."""

import time
from pathlib import Path

from . import QuickstartRow, load_training_script, loss_picture


def run(output_dir: Path, steps: int | None = None) -> QuickstartRow:
    """BPL on synthetic coloured shapes (4 base / 4 new classes); metric: base-class top-1 of the pipeline.

    400 steps: on the tiny random CLIP, 150 steps left base accuracy anywhere between 16% and 44% depending on the
    seed and data order (measured, seeds 1/2/3/42); 400 steps gave 58-66% on each of seeds 1, 2 and 42.
    """
    import numpy as np
    from transformers import pipeline

    from ..data.few_shot import subsample_classes
    from ..data.synthetic_images import shape_class_names, synthetic_shape_images
    from ..metrics.classification import top_k_accuracy

    start = time.time()
    out = output_dir / "bayesian_prompt"
    script = load_training_script("train_bayesian_prompt")
    argv = [
        "--dataset_name", "synthetic", "--output_dir", str(out), "--cpu", "--max_train_steps", str(steps or 400),
        "--per_device_train_batch_size", "16", "--per_device_eval_batch_size", "32", "--optimizer", "adamw",
        "--learning_rate", "5e-2", "--weight_decay", "0", "--lr_scheduler_type", "constant",
        "--num_samples_train", "4", "--num_samples_eval", "4", "--num_shots", "16", "--logging_steps", "50",
        "--logvar_init", "-6",  # the tiny random CLIP's token embeddings are ~0.02: start with a small spread
    ]
    outcome = script.main(script.parse_args(argv))
    history, results = outcome["history"], outcome["results"]

    pipe = pipeline("hfvid-zero-shot-image-classification", model=str(out), device="cpu")
    held_out = subsample_classes(synthetic_shape_images(shape_class_names(8), 8, seed=10_000), "base")
    labels = held_out.features["label"].names
    predictions = pipe([row["image"] for row in held_out], candidate_labels=labels, batch_size=16)
    scores = np.array([[{p["label"]: p["score"] for p in pred}[name] for name in labels] for pred in predictions])
    accuracy = top_k_accuracy(scores, np.array(held_out["label"]), 1)
    if not (out / "README.md").is_file():
        raise RuntimeError(f"the training script did not render a model card in {out}")
    metric = (f"base top-1 {accuracy:.1f}% (zero-shot prompt {results['zero_shot_acc_base']:.1f}%), "
              f"new {results['acc_new']:.1f}%")
    return QuickstartRow("bayesian_prompt", history["global_step"], history["first_loss"], history["last_loss"],
                         metric, str(out), time.time() - start, loss_picture(out, history, "Bayesian prompts"))
