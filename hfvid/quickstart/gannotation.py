"""``hfvid quickstart`` recipe of GANnotation: train on synthetic one-identity clips, reload the diffusers pipeline,
measure how much closer its outputs are to the true target frames than the copy-the-source baseline."""

import time
from pathlib import Path

from . import QuickstartRow, load_training_script, save_picture


def run(output_dir: Path, steps: int | None = None) -> QuickstartRow:
    """Tiny GANnotation on the spec's blob faces (5 points, no critic, for speed); metric: pipeline L1 vs copy.

    The 68-point synthetic faces also train (``--synthetic_kind faces``), but at 32 px their features are one-pixel
    dots, and a few hundred CPU steps end in the copy-the-source minimum (mask -> 1).
    """
    import numpy as np
    import torch

    from ..data.synthetic_pairs import synthetic_videos
    from ..models.gannotation.data_gannotation import crop_face
    from ..models.gannotation.pipeline_gannotation import GANnotationPipeline

    start = time.time()
    out = output_dir / "gannotation"
    script = load_training_script("train_gannotation")
    argv = [
        "--dataset_name", "synthetic", "--output_dir", str(out), "--cpu",
        "--config_overrides",
        "num_landmarks=5,base_channels=8,num_res_blocks=1,image_size=32,critic_num_layers=3,heatmap_sigma=1.5",
        "--max_train_steps", str(steps or 150), "--per_device_train_batch_size", "8", "--learning_rate", "3e-3",
        "--lambda_adv", "0", "--lambda_cyc", "0.1", "--lambda_rcc", "0.1",
        "--synthetic_kind", "blobs", "--synthetic_image_size", "48",
        "--synthetic_videos", "48", "--synthetic_frames", "3", "--synthetic_eval_videos", "8", "--logging_steps", "50",
    ]
    history = script.main(script.parse_args(argv))["history"]

    pipe = GANnotationPipeline.from_pretrained(out)
    pipe.set_progress_bar_config(disable=True)
    size = pipe.synthesizer.config.image_size
    errors, baselines = [], []
    for video in synthetic_videos(8, 4, 48, seed=20_000, kind="blobs"):
        source, source_points = video["images"][0], video["landmarks"][0]
        generated = pipe(source, video["landmarks"][1:], source_landmarks=source_points, output_type="pt").images
        to_tensor = lambda a: torch.from_numpy(a).permute(2, 0, 1).float() / 255  # noqa: E731
        truth = torch.stack([crop_face(to_tensor(f), p, size)[0] for f, p in zip(video["images"][1:],
                                                                              video["landmarks"][1:])])
        copy = crop_face(to_tensor(source), source_points, size)[0]
        errors.append((generated - truth).abs().mean().item())
        baselines.append((copy[None] - truth).abs().mean().item())
    if not (out / "README.md").is_file():
        raise RuntimeError(f"the training script did not render a model card in {out}")
    metric = f"L1 to target {np.mean(errors):.4f} vs copy {np.mean(baselines):.4f} ([0,1] px)"
    from ..visualize import gannotation_grid, side_by_side, to_pil

    def sequence_picture():  # the last held-out video: source crop | faces synthesised for the next frames' shapes
        output = pipe(source, video["landmarks"][1:], source_landmarks=source_points, output_type="pt")
        grid = gannotation_grid(output, scale=4)
        return side_by_side([to_pil(copy).resize((grid.height, grid.height)), grid])

    picture = save_picture(out, sequence_picture)
    return QuickstartRow("gannotation", history["global_step"], history["first_loss"], history["last_loss"], metric,
                         str(out), time.time() - start, picture)
