"""``hfvid quickstart`` recipe of MViTv2: fine-tune-style training on synthetic motion clips, then the stock
``video-classification`` pipeline on held-out mp4 files."""

import time
from pathlib import Path

from . import QuickstartRow, load_training_script, loss_picture

TINY_MVITV2 = ("image_size=[32,32],num_frames=4,embed_dim=16,num_heads=[1,2],output_channels=[16,32],"
               "stride_q=[[1,1,1],[1,2,2]],stride_kv=[[1,4,4],[1,2,2]]")


def run(output_dir: Path, steps: int | None = None) -> QuickstartRow:
    """Tiny MViTv2 on 4 motion classes; metric: top-1 of the pipeline on 32 held-out videos written as mp4."""
    from transformers import pipeline

    from ..data.synthetic_video import shapes_in_motion
    from ..data.video import write_video

    start = time.time()
    out = output_dir / "mvitv2"
    script = load_training_script("train_mvitv2")
    argv = ["--dataset_name", "synthetic", "--output_dir", str(out), "--cpu", "--config_overrides", TINY_MVITV2,
            "--max_train_steps", str(steps or 150), "--per_device_train_batch_size", "16", "--learning_rate", "3e-3",
            "--logging_steps", "50"]
    history = script.main(script.parse_args(argv))["history"]

    classify = pipeline("video-classification", model=str(out), device="cpu")
    videos = shapes_in_motion(32, num_frames=4, image_size=32, seed=10_000, colours=("red",), shapes=("square",))
    clips = out / "heldout_clips"
    clips.mkdir(exist_ok=True)
    correct = 0
    for index, video in enumerate(videos):
        path = write_video(clips / f"{index}.mp4", video["frames"], fps=4)
        correct += classify(str(path), top_k=1)[0]["label"] == video["label_name"]
    if not (out / "README.md").is_file():
        raise RuntimeError(f"the training script did not render a model card in {out}")
    return QuickstartRow("mvitv2", history["global_step"], history["first_loss"], history["last_loss"],
                         f"top-1 {100 * correct / len(videos):.1f}% (chance 25%)", str(out), time.time() - start,
                         loss_picture(out, history, "MViTv2"))
